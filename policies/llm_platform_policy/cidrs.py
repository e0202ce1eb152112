"""Judging an allow-list by the addresses it admits, not by how it is spelt.

`0.0.0.0/0`, `0.0.0.0/1` + `128.0.0.0/1`, 256 `/8`s, `::/0` and `2000::/3` all admit the whole internet,
and so do the IPv6 prefixes that carry IPv4 addresses (`::ffff:0:0/96`, `64:ff9b::/96`, `2002::/16`):
their IPv4 part is counted as the IPv4 it stands for. `internet_share` merges the list (overlaps and
adjacent blocks collapse), drops what is not routable on the internet (private, shared, loopback,
link-local, documentation, benchmarking, multicast and reserved ranges), and measures what is left
against the family's whole public space. The policy pack and the
stack configuration both judge allow-lists with it, under one threshold.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_MAX_SHARE_PERCENT = 1.0
"""The most of the public internet (per address family) an allow-list may admit. One percent of IPv4
is about 37 million addresses, more than two `/8`s: room for any organisation's own networks (a legacy
`/8` holder included), but not for "most of the internet" spelt as a handful of short prefixes. Of IPv6
it is about a `/10`, larger than any regional internet registry's allocation."""

# Ranges that are not routed on the public internet: the IANA IPv4 and IPv6 Special-Purpose Address
# Registries (RFC 6890 and its updates) with "Globally Reachable: False", plus multicast and the reserved
# 240.0.0.0/4. For IPv6 the public space is global unicast, 2000::/3 (RFC 4291); addresses outside it
# (ULA fc00::/7, link-local fe80::/10, multicast ff00::/8, ...) are never on the internet.
_IPV4_SPACE = ("0.0.0.0/0",)
_IPV4_NOT_PUBLIC = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "240.0.0.0/4",
)  # fmt: skip
_IPV6_SPACE = ("2000::/3",)
_IPV6_NOT_PUBLIC = ("2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20")


def _subtract(space: Iterable[Network], holes: Iterable[Network]) -> list[Network]:
    blocks = list(space)
    for hole in holes:
        remaining = []
        for block in blocks:
            if hole.subnet_of(block):
                remaining.extend(block.address_exclude(hole))
            elif not block.subnet_of(hole):
                remaining.append(block)
        blocks = remaining
    return list(ipaddress.collapse_addresses(blocks))


# IPv6 prefixes whose addresses embed an IPv4 address, with the bit offset of the IPv4 part and whether it
# is stored inverted: IPv4-mapped and IPv4-compatible (RFC 4291), NAT64 well-known and local-use
# (RFC 6052, RFC 8215), 6to4 (RFC 3056) and Teredo's obfuscated client address (RFC 4380). A dual-stack
# listener, a NAT64 gateway or a relay turns any IPv4 client into one of these.
_IPV4_EMBEDDING = (("::ffff:0:0/96", 96, False), ("::/96", 96, False), ("64:ff9b::/96", 96, False), ("64:ff9b:1::/48", 96, False), ("2002::/16", 16, False), ("2001::/32", 96, True))


def embedded_ipv4(network: Network) -> list[ipaddress.IPv4Network]:
    """The IPv4 networks an IPv6 network admits through a prefix that embeds IPv4 addresses."""
    found = []
    for prefix, offset, inverted in _IPV4_EMBEDDING:
        embedding = ipaddress.IPv6Network(prefix)
        if network.version != 6 or not network.overlaps(embedding):
            continue
        if network.prefixlen <= offset:
            if embedding.subnet_of(network) or network.prefixlen <= embedding.prefixlen:
                found.append(ipaddress.IPv4Network("0.0.0.0/0"))
                continue
        bits = max(0, min(32, network.prefixlen - offset))
        value = (int(network.network_address) >> (96 - offset)) & 0xFFFFFFFF
        if inverted:
            value ^= 0xFFFFFFFF
        found.append(ipaddress.IPv4Network((value, bits), strict=False))
    return found


@lru_cache(maxsize=None)
def public_space(version: int) -> tuple[Network, ...]:
    """Every block of the public internet of one address family, collapsed."""
    space, holes = (_IPV4_SPACE, _IPV4_NOT_PUBLIC) if version == 4 else (_IPV6_SPACE, _IPV6_NOT_PUBLIC)
    return tuple(_subtract(map(ipaddress.ip_network, space), map(ipaddress.ip_network, holes)))


def parse(cidrs: Iterable[Any]) -> tuple[list[Network], list[str]]:
    """The networks of an allow-list (host bits are ignored, as the clouds do) and the entries that are
    not networks at all."""
    networks, invalid = [], []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
        except ValueError:
            invalid.append(str(cidr))
    return networks, invalid


@dataclass(frozen=True)
class Coverage:
    shares: dict[int, float]
    """Per address family (4, 6): the fraction of its public internet the allow-list admits."""
    written: dict[int, float] = field(default_factory=dict)
    """The same, of the networks as written (before IPv4 embedded in IPv6 is counted as IPv4)."""

    @property
    def largest(self) -> tuple[int, float]:
        # On a tie, the family the list opens as written comes first (`::/0` reads as IPv6), then IPv4.
        return max(self.shares.items(), key=lambda item: (item[1], self.written.get(item[0], 0), item[0] == 4))

    @property
    def whole_internet(self) -> bool:
        return self.largest[1] >= 1.0

    def too_open(self, max_share_percent: float = DEFAULT_MAX_SHARE_PERCENT) -> bool:
        return self.largest[1] * 100 > max_share_percent

    def describe(self) -> str:
        version, share = self.largest
        if share >= 1.0:
            return f"admits the whole public IPv{version} internet"
        return f"admits {share:.2%} of the public IPv{version} internet"


def _shares(networks: list[Network]) -> dict[int, float]:
    shares = {}
    for version in (4, 6):
        space = public_space(version)
        covered = 0
        for block in ipaddress.collapse_addresses(n for n in networks if n.version == version):
            for public in space:
                if block.subnet_of(public):
                    covered += block.num_addresses
                elif public.subnet_of(block):
                    covered += public.num_addresses
        shares[version] = covered / sum(public.num_addresses for public in space)
    return shares


def internet_share(cidrs: Iterable[Any]) -> Coverage:
    """What share of the public internet an allow-list admits, per address family. Entries that are not
    networks are ignored here; `parse` reports them."""
    networks, _ = parse(cidrs)
    embedded = [ipv4 for network in networks for ipv4 in embedded_ipv4(network)]
    return Coverage(_shares(networks + embedded), _shares(networks))


def without(cidrs: Iterable[Any], excepted: Iterable[Any]) -> list[str]:
    """The networks of `cidrs` minus those of `excepted` (a NetworkPolicy ipBlock's `except`)."""
    networks, invalid = parse(cidrs)
    holes, bad_holes = parse(excepted)
    remaining = []
    for version in (4, 6):
        remaining += _subtract([n for n in networks if n.version == version], [h for h in holes if h.version == version])
    return [str(n) for n in remaining] + invalid + bad_holes


def judge(cidrs: Iterable[Any], max_share_percent: float = DEFAULT_MAX_SHARE_PERCENT) -> str | None:
    """Why an allow-list is too open, in words, or None when it is not: it admits more than
    `max_share_percent` of the public internet of either family, or has entries that are not networks."""
    cidrs = list(cidrs)
    _, invalid = parse(cidrs)
    if invalid:
        return f"has entries that are not networks {invalid}"
    coverage = internet_share(cidrs)
    if coverage.too_open(max_share_percent):
        limit = "" if coverage.whole_internet else f" (at most {max_share_percent:g}% allowed)"
        return f"{coverage.describe()}{limit}"
    return None


MAX_SHARE_PROPERTY = {
    "maxInternetSharePercent": {
        "type": "number",
        "minimum": 0,
        "maximum": 100,
        "default": DEFAULT_MAX_SHARE_PERCENT,
        "description": "The most of the public internet (per address family, private and reserved ranges left out) an allow-list may admit, in percent.",
    }
}
