"""tools.quota_check: the stack's vCPU ceilings against the account's EC2 quotas, as `make quota-check` runs it.

Service Quotas is answered by botocore's Stubber on a real client, with responses shaped as the service
model says: moto 5.2.5 serves `get_service_quota` only for VPC quotas (every EC2 code raises
NoSuchResourceException) and does not implement `get_aws_default_service_quota`;
test_moto_does_not_serve_ec2_quotas notices when that changes."""

from __future__ import annotations

import json
from typing import Any, Iterator

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from llm_platform_policy import catalog
from tools import quota_check
from tools.quota_check import QuotaReadError, QuotaValue, Row, compare, main, read_account_quotas

REGION = "us-west-2"
G_ON_DEMAND, G_SPOT, P_ON_DEMAND, P_SPOT = "L-DB2E81BA", "L-3819A6DF", "L-417A185B", "L-7212CCBC"
# Names and usage-metric classes as Service Quotas reports them for these codes.
EC2_QUOTAS = {
    G_ON_DEMAND: ("Running On-Demand G and VT instances", "G/OnDemand"),
    G_SPOT: ("All G and VT Spot Instance Requests", "G/Spot"),
    P_ON_DEMAND: ("Running On-Demand P instances", "P/OnDemand"),
    P_SPOT: ("All P Spot Instance Requests", "P/Spot"),
}


def quota_response(code: str, vcpus: float, *, applied: bool = True) -> dict[str, Any]:
    """A GetServiceQuota (applied) or GetAWSDefaultServiceQuota (default) response."""
    name, usage_class = EC2_QUOTAS[code]
    account = "123456789012" if applied else ""
    return {
        "Quota": {
            "ServiceCode": "ec2",
            "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
            "QuotaArn": f"arn:aws:servicequotas:{REGION}:{account}:ec2/{code}",
            "QuotaCode": code,
            "QuotaName": name,
            "Value": float(vcpus),
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
            "UsageMetric": {
                "MetricNamespace": "AWS/Usage",
                "MetricName": "ResourceCount",
                "MetricDimensions": {"Class": usage_class, "Resource": "vCPU", "Service": "EC2", "Type": "Resource"},
                "MetricStatisticRecommendation": "Maximum",
            },
            "QuotaAppliedAtLevel": "ACCOUNT",
        }
    }


def expect_quota(stubber: Stubber, code: str, vcpus: float, *, applied: bool = True) -> None:
    params = {"ServiceCode": "ec2", "QuotaCode": code}
    if applied:
        stubber.add_response("get_service_quota", quota_response(code, vcpus), params)
    else:
        stubber.add_client_error("get_service_quota", "NoSuchResourceException", "The request failed because the specified service quota does not exist.", 400, expected_params=params)
        stubber.add_response("get_aws_default_service_quota", quota_response(code, vcpus, applied=False), params)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path) -> None:
    """Fake credentials, and none of the developer's AWS configuration or the instance metadata service."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # boto3.client() reuses one default session, and with it the credentials an earlier test resolved.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.fixture
def planned(monkeypatch, stack_plan) -> None:
    """quota_check reads the stack's plan the session already declared (tests/conftest.py `stack_plan`):
    the preview takes a second or two, and every test of main() runs on the same plan of a stack."""
    monkeypatch.setattr(quota_check, "run_program", lambda stack: stack_plan(stack).plan)


@pytest.fixture
def client() -> Any:
    return boto3.client("service-quotas", region_name=REGION)


@pytest.fixture
def stubber(client) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def regions_asked(monkeypatch, client, planned) -> list[str]:
    """main() gets the stubbed client; the list collects the regions it asked for."""
    asked: list[str] = []

    def create(service: str, region_name: str | None = None) -> Any:
        assert service == "service-quotas"
        asked.append(region_name)
        return client

    monkeypatch.setattr(quota_check.boto3, "client", create)
    return asked


# -- compare -----------------------------------------------------------------------------------------


def account_quota(vcpus: float, source: str = "applied") -> QuotaValue:
    return QuotaValue(name="Running On-Demand G and VT instances", vcpus=vcpus, source=source)


@pytest.mark.parametrize(
    ("ceiling", "account", "assumed", "status"),
    [
        (16, 32, 32, "ok"),
        (16, 16, 16, "ok"),
        (16, 8, 8, "OVER"),
        (16, 24, 32, "CONFIG"),
        (16, 8, 32, "OVER+CONFIG"),
    ],
)
def test_compare_status(ceiling, account, assumed, status):
    [row] = compare({G_ON_DEMAND: ceiling}, {G_ON_DEMAND: account_quota(account)}, {G_ON_DEMAND: assumed})
    assert row.status == status
    assert row.over == ("OVER" in status)
    assert row.config_optimistic == ("CONFIG" in status)


def test_compare_rows_follow_the_account_quotas_and_fill_gaps():
    account = {G_ON_DEMAND: account_quota(64), P_SPOT: account_quota(0, "default")}
    rows = compare({G_ON_DEMAND: 16}, account, {G_ON_DEMAND: 32})
    assert rows == [
        Row(G_ON_DEMAND, "Running On-Demand G and VT instances", 64, "applied", 16, 32),
        # No pool draws on P spot and the config says nothing: a zero quota is fine.
        Row(P_SPOT, "Running On-Demand G and VT instances", 0, "default", 0, None),
    ]
    assert [row.status for row in rows] == ["ok", "ok"]


# -- reading the account's quotas ------------------------------------------------------------------------


def test_read_account_quotas_applied(client, stubber):
    expect_quota(stubber, G_ON_DEMAND, 64)
    expect_quota(stubber, G_SPOT, 32)
    assert read_account_quotas(client, [G_ON_DEMAND, G_SPOT]) == {
        G_ON_DEMAND: QuotaValue("Running On-Demand G and VT instances", 64, "applied"),
        G_SPOT: QuotaValue("All G and VT Spot Instance Requests", 32, "applied"),
    }


def test_read_account_quotas_falls_back_to_the_default(client, stubber):
    expect_quota(stubber, G_ON_DEMAND, 64)
    expect_quota(stubber, P_ON_DEMAND, 0, applied=False)
    quotas = read_account_quotas(client, [G_ON_DEMAND, P_ON_DEMAND])
    assert quotas[P_ON_DEMAND] == QuotaValue("Running On-Demand P instances", 0, "default")
    assert quotas[G_ON_DEMAND].source == "applied"


@pytest.mark.parametrize("denied", ["GetServiceQuota", "GetAWSDefaultServiceQuota"])
def test_access_denied_names_the_permission(client, stubber, denied):
    params = {"ServiceCode": "ec2", "QuotaCode": G_ON_DEMAND}
    message = f"User: arn:aws:iam::123456789012:user/ops is not authorized to perform: servicequotas:{denied}"
    if denied == "GetAWSDefaultServiceQuota":
        stubber.add_client_error("get_service_quota", "NoSuchResourceException", "no such quota", 400, expected_params=params)
        stubber.add_client_error("get_aws_default_service_quota", "AccessDeniedException", message, 400, expected_params=params)
    else:
        stubber.add_client_error("get_service_quota", "AccessDeniedException", message, 400, expected_params=params)
    with pytest.raises(QuotaReadError, match=f"needs servicequotas:{denied}$"):
        read_account_quotas(client, [G_ON_DEMAND])


def test_moto_does_not_serve_ec2_quotas():
    """Why the tests stub: when moto learns EC2 quotas, this fails and the stubs can go."""
    with mock_aws():
        client = boto3.client("service-quotas", region_name=REGION)
        with pytest.raises(client.exceptions.NoSuchResourceException):
            client.get_service_quota(ServiceCode="ec2", QuotaCode=G_ON_DEMAND)
        with pytest.raises(NotImplementedError):
            client.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=G_ON_DEMAND)


# -- main ----------------------------------------------------------------------------------------------


def test_staging_ceilings_are_its_l4_pool(planned):
    limits = quota_check.stack_limits("staging")
    # g6.2xlarge: 8 vCPUs, 1 GPU; 2 GPUs at most, on either capacity type.
    assert limits.ceilings == {G_ON_DEMAND: 16, G_SPOT: 16}
    assert limits.gpu_limits == {"gpu-l4": 2} and limits.gpu_total == 2
    assert limits.region == REGION
    assert limits.assumed_vcpus == {G_ON_DEMAND: 32, G_SPOT: 32} and limits.max_gpus == 2


def test_main_staging_over_the_quota(stubber, regions_asked, capsys):
    expect_quota(stubber, G_ON_DEMAND, 8)
    expect_quota(stubber, G_SPOT, 64, applied=False)
    expect_quota(stubber, P_ON_DEMAND, 0)
    expect_quota(stubber, P_SPOT, 0, applied=False)
    assert main(["staging"]) == 1
    assert regions_asked == [REGION]
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert f"EC2 vCPU quotas in {REGION} against stack staging" in lines[0]
    assert lines[2].split() == ["quota", "name", "account", "(vCPUs)", "stack", "ceiling", "policy", "config", "status"]
    assert lines[3].split() == [G_ON_DEMAND, "Running", "On-Demand", "G", "and", "VT", "instances", "8", "applied", "16", "32", "OVER+CONFIG"]
    assert lines[4].split() == [G_SPOT, "All", "G", "and", "VT", "Spot", "Instance", "Requests", "64", "default", "16", "32", "ok"]
    assert lines[5].split() == [P_ON_DEMAND, "Running", "On-Demand", "P", "instances", "0", "applied", "0", "-", "ok"]
    assert lines[6].split() == [P_SPOT, "All", "P", "Spot", "Instance", "Requests", "0", "default", "0", "-", "ok"]
    assert "GPU total: 2 GPUs (gpu-l4=2); policy config maxGpus: 2" in out
    assert f"OVER {G_ON_DEMAND}: the stack can launch 16 vCPUs, the account allows 8" in out
    assert f"CONFIG {G_ON_DEMAND}: policies/config/staging.json assumes 32 vCPUs, the account has 8" in out


def test_main_staging_fits_writes_json(stubber, regions_asked, capsys, tmp_path):
    # The quota covers the ceiling but not what the policy config assumes: flagged, not failing.
    expect_quota(stubber, G_ON_DEMAND, 24)
    for code in (G_SPOT, P_ON_DEMAND, P_SPOT):
        expect_quota(stubber, code, 32)
    out_file = tmp_path / "quota" / "staging.json"
    assert main(["staging", "--region", "us-east-1", "--json", str(out_file)]) == 0
    assert regions_asked == ["us-east-1"]
    assert "OVER" not in capsys.readouterr().out
    document = json.loads(out_file.read_text())
    assert (document["stack"], document["region"]) == ("staging", "us-east-1")
    assert [row["quotaCode"] for row in document["rows"]] == catalog.aws_vcpu_quota_codes()
    assert document["rows"][0] == {
        "quotaCode": G_ON_DEMAND,
        "quotaName": "Running On-Demand G and VT instances",
        "accountVcpus": 24,
        "accountSource": "applied",
        "ceilingVcpus": 16,
        "assumedVcpus": 32,
        "status": "CONFIG",
    }
    assert document["gpus"] == {"total": 2, "byPool": {"gpu-l4": 2}, "maxGpus": 2}


def test_main_access_denied_exits_2_without_traceback(stubber, regions_asked, capsys):
    stubber.add_client_error(
        "get_service_quota",
        "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/ops is not authorized to perform: servicequotas:GetServiceQuota",
        400,
        expected_params={"ServiceCode": "ec2", "QuotaCode": G_ON_DEMAND},
    )
    assert main(["staging"]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: access denied reading EC2 quota {G_ON_DEMAND} in {REGION}: the AWS identity needs servicequotas:GetServiceQuota\n"
    assert "EC2 vCPU quotas" not in captured.out


def test_main_without_credentials_exits_2(monkeypatch, planned, capsys):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    assert main(["staging"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no AWS credentials found") and "servicequotas:GetServiceQuota" in err
    assert len(err.splitlines()) == 1


def test_main_unknown_stack_exits_2(capsys):
    assert main(["nope"]) == 2
    assert "no stack file Pulumi.nope.yaml" in capsys.readouterr().err


def test_gcp_stack_prints_its_gpu_quota_ceilings_and_the_gcloud_command(capsys):
    from tools import quota_check

    assert quota_check.main(["staging-gcp"]) == 2
    out = capsys.readouterr().out
    assert "PREEMPTIBLE_NVIDIA_L4_GPUS: stack ceiling 2 GPUs, policy config 4" in out
    assert "gcloud compute regions describe us-central1 --project llm-platform-staging" in out
