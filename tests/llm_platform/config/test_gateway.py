"""The inference gateway section (`gateway.GatewayConfig`): a compliant section, then one mutation per rule."""

from __future__ import annotations

import pytest

from llm_platform.config import parse
from tests.llm_platform.config.stacks import AWS, GCP, changed, only, refused

GATEWAY = {"hostname": "chat.example.com", "scheme": "internal", "allowedSourceRanges": ["10.0.0.0/8"], "clients": [{"name": "web"}, {"name": "batch", "requestsPerMinute": 10}]}


def with_gateway(base: dict = AWS, **changes) -> dict:
    return changed(base, {"gateway": {**GATEWAY, **changes}})


def test_a_compliant_gateway_with_the_seeds_default_limit():
    gateway = parse(with_gateway()).gateway
    assert gateway.rate_limit_per_minute == 60 and gateway.replicas == 2
    assert [gateway.limit_of(client) for client in gateway.clients] == [60, 10]
    assert [str(cidr) for cidr in gateway.allowed_source_ranges] == ["10.0.0.0/8"]


@pytest.mark.parametrize(
    "changes, key, rule",
    [
        ({"hostname": "Chat_API"}, "gateway.hostname", "fully qualified DNS name"),
        ({"hostname": "chat.example.com\n"}, "gateway.hostname", "fully qualified DNS name"),
        ({"hostname": "a" * 64 + ".example.com"}, "gateway.hostname", "labels of at most 63 characters"),
        ({"hostname": "10.0.0.1"}, "gateway.hostname", "not an address"),
        ({"allowedSourceRanges": ["10.0.0.1/8"]}, "gateway.allowedSourceRanges[0]", "not a valid IPv4 network"),
        ({"allowedSourceRanges": ["10.0.0.0/8", "10.0.0.0/8"]}, "gateway.allowedSourceRanges", "must not repeat"),
        ({"clients": [{"name": "web"}, {"name": "web"}]}, "gateway.clients", "must not repeat"),
        ({"clients": [{"name": f"c{i}"} for i in range(17)]}, "gateway.clients", "at most 16"),
        ({"rateLimitPerMinute": 0}, "gateway.rateLimitPerMinute", "greater than or equal to 1"),
        ({"scheme": "public"}, "gateway.scheme", "internal"),
    ],
)
def test_each_field_rule(changes, key, rule):
    violation = only(refused(with_gateway(**changes)))
    assert violation.key == key and rule in violation.rule


def test_production_must_list_who_reaches_a_public_endpoint():
    keys = {v.key for v in _violations(with_gateway(scheme="internet-facing", allowedSourceRanges=[]), "production")}
    assert "gateway.allowedSourceRanges" in keys
    assert "gateway.allowedSourceRanges" not in {v.key for v in _violations(with_gateway(scheme="internet-facing", allowedSourceRanges=["198.51.100.0/24"]), "production")}


def _violations(raw: dict, environment: str) -> list:
    from llm_platform.config import ConfigError

    try:
        parse({**raw, "environment": environment})
    except ConfigError as error:
        return list(error.violations)
    return []


def test_a_gke_gateway_needs_an_acme_email_and_may_be_internet_facing():
    violation = only(refused(with_gateway(GCP)))
    assert violation.key == "gateway.acmeEmail" and "Let's Encrypt" in violation.rule
    gateway = parse(with_gateway(GCP, scheme="internet-facing", acmeEmail="oncall@example.com")).gateway
    assert gateway.scheme == "internet-facing" and gateway.acme_email == "oncall@example.com"
    # Production's rule on who reaches a public endpoint holds on GKE too.
    keys = {v.key for v in _violations(with_gateway(GCP, scheme="internet-facing", acmeEmail="oncall@example.com", allowedSourceRanges=[]), "production")}
    assert "gateway.allowedSourceRanges" in keys


def test_an_aws_gateway_takes_no_acme_email():
    violation = only(refused(with_gateway(acmeEmail="oncall@example.com")))
    assert violation.key == "gateway.acmeEmail" and "ACM" in violation.rule
    assert only(refused(with_gateway(GCP, acmeEmail="not-an-address"))).key == "gateway.acmeEmail"


def test_the_cloud_dns_project_is_a_project_id():
    raw = with_gateway(GCP, acmeEmail="oncall@example.com")
    assert parse(changed(raw, {"gcp.dnsProject": "acme-dns-prod"})).gcp.dns_project == "acme-dns-prod"
    assert only(refused(changed(raw, {"gcp.dnsProject": "Bad_Project"}))).key == "gcp.dnsProject"
