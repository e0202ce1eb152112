import pytest

from llm_platform_policy import cidrs

WHOLE_IPV4 = "admits the whole public IPv4 internet"


@pytest.mark.parametrize(
    "listed, problem",
    [
        (["0.0.0.0/0"], WHOLE_IPV4),
        (["0.0.0.0/1", "128.0.0.0/1"], WHOLE_IPV4),
        ([f"{n}.0.0.0/8" for n in range(256)], WHOLE_IPV4),
        (["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/3"], WHOLE_IPV4),
        (["1.2.3.4/0"], WHOLE_IPV4),  # host bits are ignored, as the clouds ignore them
        (["::/0"], "admits the whole public IPv6 internet"),
        (["2000::/3"], "admits the whole public IPv6 internet"),
        (["2000::/4", "3000::/4"], "admits the whole public IPv6 internet"),
        ([f"{n}.0.0.0/8" for n in range(1, 9)], "admits 3.63% of the public IPv4 internet (at most 1% allowed)"),
        (["20.0.0.0/6"], "admits 1.81% of the public IPv4 internet (at most 1% allowed)"),
        (["2600::/8"], "admits 3.13% of the public IPv6 internet (at most 1% allowed)"),
        (["10.0.0.0/8", "not-a-network"], "has entries that are not networks ['not-a-network']"),
        (["0/0"], "has entries that are not networks ['0/0']"),
        (["010.0.0.0/8"], "has entries that are not networks ['010.0.0.0/8']"),  # leading zeros: octal to some parsers
        # IPv6 prefixes that carry IPv4 addresses admit the IPv4 internet they embed.
        (["::ffff:0:0/96"], WHOLE_IPV4),
        (["::ffff:0.0.0.0/96"], WHOLE_IPV4),
        (["::/96"], WHOLE_IPV4),
        (["64:ff9b::/96"], WHOLE_IPV4),
        (["64:ff9b:1::/48"], WHOLE_IPV4),
        (["2002::/16"], WHOLE_IPV4),
        (["2001::/32"], WHOLE_IPV4),
        (["::ffff:0:0/97", "::ffff:128.0.0.0/97"], WHOLE_IPV4),
        (["::ffff:20.0.0.0/102", "10.0.0.0/8"], "admits 1.81% of the public IPv4 internet (at most 1% allowed)"),
        (["2002:1400::/22"], "admits 1.81% of the public IPv4 internet (at most 1% allowed)"),
        (["1.0.0.0/8", "2.0.0.0/8", "1.0.0.0/8", "::ffff:3.0.0.0/104"], "admits 1.36% of the public IPv4 internet (at most 1% allowed)"),
    ],
)
def test_open_allow_lists_are_refused_however_spelt(listed, problem):
    assert cidrs.judge(listed) == problem


@pytest.mark.parametrize(
    "listed",
    [
        [],
        ["203.0.113.0/24", "198.51.100.7/32"],
        ["17.0.0.0/8"],  # one organisation's /8: 0.45%
        ["17.0.0.0/8", "18.0.0.0/8"],  # two: 0.91%
        # Private, shared, loopback, link-local, benchmarking, multicast and reserved ranges are not the internet.
        ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "198.18.0.0/15", "224.0.0.0/3"],
        ["fc00::/7", "fe80::/10", "ff00::/8", "2001:db8::/32"],
        ["2001:db8:1234::/48", "2a00:1450::/32"],
        ["::ffff:203.0.113.0/120", "2002:cb00:7100::/40", "64:ff9b::10.0.0.0/104"],
    ],
)
def test_narrow_allow_lists_pass(listed):
    assert cidrs.judge(listed) is None


def test_threshold_is_a_setting():
    assert cidrs.judge(["17.0.0.0/8"], max_share_percent=0.1) == "admits 0.45% of the public IPv4 internet (at most 0.1% allowed)"
    assert cidrs.judge([f"{n}.0.0.0/8" for n in range(1, 9)], max_share_percent=5) is None
    assert cidrs.MAX_SHARE_PROPERTY["maxInternetSharePercent"]["default"] == cidrs.DEFAULT_MAX_SHARE_PERCENT


def test_overlaps_count_once():
    assert cidrs.internet_share(["1.0.0.0/8", "1.0.0.0/9", "1.128.0.0/9"]).shares[4] == cidrs.internet_share(["1.0.0.0/8"]).shares[4]


def test_public_space_is_what_is_left_of_the_special_ranges():
    ipv4 = sum(n.num_addresses for n in cidrs.public_space(4))
    # 2^32 minus the special-purpose ranges: 0/8, 10/8, 127/8 (3 x 2^24), 100.64/10 (2^22), 172.16/12 (2^20),
    # 169.254/16, 192.168/16 (2 x 2^16), 198.18/15 (2^17), five /24s (192.0.0, 192.0.2, 192.88.99, 198.51.100, 203.0.113), and 224/3 (multicast and reserved).
    assert ipv4 == 2**32 - 3 * 2**24 - 2**22 - 2**20 - 2 * 2**16 - 2**17 - 5 * 2**8 - 2**29


def test_an_except_list_is_taken_out_of_its_block():
    assert cidrs.judge(cidrs.without(["0.0.0.0/0"], ["10.0.0.0/8"])) == WHOLE_IPV4
    assert cidrs.without(["10.0.0.0/16"], ["10.0.0.0/17"]) == ["10.0.128.0/17"]
    assert cidrs.judge(cidrs.without(["20.0.0.0/6"], ["20.0.0.0/7"])) is None
