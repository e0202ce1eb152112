"""Check a stack's GPU vCPU ceilings against the AWS account's real EC2 quotas before `pulumi up`.

    python -m tools.quota_check <stack> [--region REGION] [--json PATH]

Runs the stack's offline preview in-process to get its ceilings (vCPUs per EC2 Service Quotas code if
every GPU node pool ran at its limits), reads the account's quotas for those codes from Service Quotas,
and prints, per quota code: the quota's name, the account's value ("applied", or "default" when nothing
was ever applied to the account), the stack's ceiling, the value `policies/config/<stack>.json` assumes
under `gpu-quota.vcpuQuotas`, and a status:

    ok      the ceiling fits the account's quota
    OVER    the ceiling is above the account's quota: Karpenter can hit the quota, and the launches it
            cannot make leave GPU pods pending
    CONFIG  the policy config assumes a higher quota than the account has: the gpu-quota policy checks
            against a number that is not true, and the config should be lowered to the account's value

The quota is compared as a whole; other instances of the same class in the account and region use it too.

For a Google Cloud stack it prints the GPUs the stack can reach under each regional Compute Engine GPU
quota (spot GPUs have their own PREEMPTIBLE_ quota) next to what the policy config assumes, and the
`gcloud` command that shows the project's real values; it does not read them itself, and exits 2.

Needs AWS credentials allowed servicequotas:GetServiceQuota and servicequotas:GetAWSDefaultServiceQuota.
The region defaults to the stack's. Exit status: 0 every ceiling fits, 1 a ceiling is above the account's
quota, 2 the stack or its policy config is invalid, or the quotas could not be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from llm_platform.config.stack_file import StackFileError
from llm_platform_policy import catalog, gke, kube, quota
from llm_platform_policy.cost import stack_cloud, stack_region
from llm_platform_policy.pack import BY_NAME, settings
from tools.policy_config import PolicyConfigError, load_config
from tools.preview import ROOT, run_program

SERVICE_CODE = "ec2"
PERMISSIONS = ("servicequotas:GetServiceQuota", "servicequotas:GetAWSDefaultServiceQuota")


class QuotaReadError(Exception):
    """The account's quotas could not be read; the message is the one line to show the operator."""


@dataclass(frozen=True)
class QuotaValue:
    name: str
    vcpus: float
    source: str
    """Either "applied" (the account's own value) or "default" (AWS's, as nothing was applied to the account)."""


@dataclass(frozen=True)
class Row:
    quota_code: str
    quota_name: str
    account_vcpus: float
    account_source: str
    ceiling_vcpus: int
    assumed_vcpus: int | None
    """What the policy config assumes the account has; None when it does not say."""

    @property
    def over(self) -> bool:
        return self.ceiling_vcpus > self.account_vcpus

    @property
    def config_optimistic(self) -> bool:
        return self.assumed_vcpus is not None and self.assumed_vcpus > self.account_vcpus

    @property
    def status(self) -> str:
        flags = [flag for flag, raised in (("OVER", self.over), ("CONFIG", self.config_optimistic)) if raised]
        return "+".join(flags) or "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "quotaCode": self.quota_code,
            "quotaName": self.quota_name,
            "accountVcpus": self.account_vcpus,
            "accountSource": self.account_source,
            "ceilingVcpus": self.ceiling_vcpus,
            "assumedVcpus": self.assumed_vcpus,
            "status": self.status,
        }


@dataclass(frozen=True)
class StackLimits:
    ceilings: dict[str, int]
    gpu_limits: dict[str, int | None]
    """GPU limit per GPU NodePool; None for a pool without one (the gpu-limits-set policy flags it)."""
    region: str | None
    assumed_vcpus: dict[str, int]
    max_gpus: int | None
    cloud: str = "aws"
    project: str | None = None
    """Google Cloud: the project the stack's provider names."""
    gpu_quota_ceilings: dict[str, int] | None = None
    """Google Cloud: GPUs per regional GPU quota metric if every GPU pool ran at its maximum."""
    assumed_gpus: dict[str, int] | None = None

    @property
    def gpu_total(self) -> int | None:
        limits = list(self.gpu_limits.values())
        return None if None in limits else sum(limits)


def compare(ceilings: dict[str, int], account: dict[str, QuotaValue], assumed: dict[str, int]) -> list[Row]:
    """One row per quota read from the account; a code without a ceiling has no GPU pool drawing on it."""
    return [
        Row(
            quota_code=code,
            quota_name=value.name,
            account_vcpus=value.vcpus,
            account_source=value.source,
            ceiling_vcpus=ceilings.get(code, 0),
            assumed_vcpus=assumed.get(code),
        )
        for code, value in account.items()
    ]


def read_account_quotas(client: Any, codes: Iterable[str]) -> dict[str, QuotaValue]:
    """The account's EC2 quotas by code, from a `service-quotas` client. Raises QuotaReadError."""
    return {code: _read_quota(client, code) for code in codes}


def _read_quota(client: Any, code: str) -> QuotaValue:
    region = client.meta.region_name
    try:
        try:
            found, source = client.get_service_quota(ServiceCode=SERVICE_CODE, QuotaCode=code)["Quota"], "applied"
        except client.exceptions.NoSuchResourceException:
            # Nothing was ever applied to this account for the quota, so AWS's default is what binds.
            found, source = client.get_aws_default_service_quota(ServiceCode=SERVICE_CODE, QuotaCode=code)["Quota"], "default"
    except ClientError as exc:
        raise QuotaReadError(_client_error_line(exc, code, region)) from None
    except NoCredentialsError:
        raise QuotaReadError(f"no AWS credentials found: configure credentials for an identity allowed {' and '.join(PERMISSIONS)}") from None
    except BotoCoreError as exc:
        raise QuotaReadError(f"cannot read EC2 quota {code} in {region}: {exc}") from None
    return QuotaValue(name=found["QuotaName"], vcpus=found["Value"], source=source)


def _client_error_line(exc: ClientError, code: str, region: str) -> str:
    error = exc.response.get("Error", {})
    if error.get("Code") == "AccessDeniedException":
        return f"access denied reading EC2 quota {code} in {region}: the AWS identity needs servicequotas:{exc.operation_name}"
    return f"{exc.operation_name} for EC2 quota {code} in {region} failed: {error.get('Code')}: {error.get('Message')}"


def stack_limits(stack: str) -> StackLimits:
    """What the stack could launch, from its offline preview, and what its policy config assumes.

    Raises FileNotFoundError, PolicyConfigError, or SystemExit(2) for an invalid stack config."""
    resources = run_program(stack).policy_resources()
    pack_config = load_config(ROOT / "policies" / "config" / f"{stack}.json")
    # With the schema's defaults, as the policy itself sees its config.
    gpu_quota = settings(BY_NAME["gpu-quota"], pack_config)[1]
    gpu_limits = {kube.dig(pool.props, "metadata", "name"): kube.gpu_limit(pool.props) for pool in quota.gpu_node_pools(resources)}
    gpu_limits |= {gke.name(pool): quota.gke_gpu_limit(pool) for pool in quota.gke_gpu_pools(resources)}
    return StackLimits(
        ceilings=quota.vcpu_ceilings(resources),
        gpu_limits=gpu_limits,
        region=stack_region(resources),
        assumed_vcpus=dict(gpu_quota.get("vcpuQuotas") or {}),
        max_gpus=gpu_quota.get("maxGpus"),
        cloud=stack_cloud(resources),
        project=next((r.props.get("project") for r in resources if r.type == "pulumi:providers:gcp"), None),
        gpu_quota_ceilings=quota.gpu_quota_ceilings(resources),
        assumed_gpus=dict(gpu_quota.get("gpuQuotas") or {}),
    )


def render_gcp(stack: str, region: str, limits: StackLimits) -> str:
    lines = [f"Compute Engine GPU quotas in {region} that stack {stack} draws on (ceiling: every GPU pool at its maximum):", ""]
    for metric, gpus in sorted((limits.gpu_quota_ceilings or {}).items()):
        assumed = (limits.assumed_gpus or {}).get(metric)
        lines.append(f"  {metric}: stack ceiling {gpus} GPUs, policy config {_number(assumed)}")
    lines += [
        "",
        "This tool does not read Google Cloud quotas. Compare the ceilings with the project's values:",
        f"  gcloud compute regions describe {region} --project {limits.project} --flatten=quotas "
        '--format="table(quotas.metric,quotas.limit,quotas.usage)" | grep GPUS',
    ]
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def render(stack: str, region: str, rows: list[Row], limits: StackLimits) -> str:
    header = ("quota", "name", "account (vCPUs)", "stack ceiling", "policy config", "status")
    table = [header] + [
        (
            row.quota_code,
            row.quota_name,
            f"{_number(row.account_vcpus)} {row.account_source}",
            _number(row.ceiling_vcpus),
            _number(row.assumed_vcpus),
            row.status,
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    lines = [f"EC2 vCPU quotas in {region} against stack {stack} (ceiling: every GPU pool at its limits):", ""]
    lines += ["  " + "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table]
    pools = ", ".join(f"{name}={'unbounded' if limit is None else limit}" for name, limit in limits.gpu_limits.items())
    total = "unbounded" if limits.gpu_total is None else limits.gpu_total
    lines += ["", f"GPU total: {total} GPUs ({pools or 'no GPU pools'}); policy config maxGpus: {_number(limits.max_gpus)}"]
    for row in rows:
        if row.over:
            lines.append(f"OVER {row.quota_code}: the stack can launch {row.ceiling_vcpus} vCPUs, the account allows {_number(row.account_vcpus)}; request an increase or lower the pools' limits")
        if row.config_optimistic:
            lines.append(f"CONFIG {row.quota_code}: policies/config/{stack}.json assumes {row.assumed_vcpus} vCPUs, the account has {_number(row.account_vcpus)}; lower gpu-quota.vcpuQuotas.{row.quota_code}")
    return "\n".join(lines)


def write_json(path: Path, stack: str, region: str, rows: list[Row], limits: StackLimits) -> None:
    document = {
        "stack": stack,
        "region": region,
        "rows": [row.to_json() for row in rows],
        "gpus": {"total": limits.gpu_total, "byPool": limits.gpu_limits, "maxGpus": limits.max_gpus},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.quota_check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack")
    parser.add_argument("--region", help="AWS region whose quotas to read (default: the stack's)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the rows to this file")
    args = parser.parse_args(argv)

    try:
        limits = stack_limits(args.stack)
    except (FileNotFoundError, StackFileError, PolicyConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    region = args.region or limits.region
    if limits.cloud == "gcp":
        print(render_gcp(args.stack, region, limits))
        return 2
    if region is None:
        print(f"error: stack {args.stack} does not name exactly one AWS region; pass --region", file=sys.stderr)
        return 2
    try:
        account = read_account_quotas(boto3.client("service-quotas", region_name=region), catalog.aws_vcpu_quota_codes())
    except QuotaReadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    rows = compare(limits.ceilings, account, limits.assumed_vcpus)
    print(render(args.stack, region, rows, limits))
    if args.json:
        write_json(args.json, args.stack, region, rows, limits)
    return 1 if any(row.over for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
