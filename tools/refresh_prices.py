"""Refresh the instance catalog's on-demand prices from the providers' public price APIs, on your machine.

    make refresh-prices                      # both clouds, every type and region the catalog prices
    python -m tools.refresh_prices --cloud aws --type g6.xlarge --dry-run

Reads `policies/llm_platform_policy/data/gpu_catalog.yaml`, asks for the current on-demand price of every
(type, region) that already has one, writes each new figure back in place (the `onDemandUsdPerHour` map of
the type's line; comments, order and every other value stay as they are) and prints a unified diff. Only
prices the catalog already holds are refreshed: whether a type is offered in a region is a fact of the
catalog's pinned sources (a price SKU can exist where no machine is offered), not of a price API.

- AWS: the Price List Query API (`pricing` client, endpoint us-east-1), `GetProducts` on service AmazonEC2
  with the filters Karpenter uses for its on-demand prices (pkg/providers/pricing/pricing.go at v1.14.1):
  regionCode, instanceType, operatingSystem Linux, tenancy Shared, preInstalledSw NA, capacitystatus Used,
  marketoption OnDemand. The USD `pricePerUnit` of the on-demand term is taken verbatim. Credentials: whatever
  boto3 finds (the caller needs `pricing:GetProducts`).
- Google Cloud: the Cloud Billing Catalog API, `services/6F81-5844-456A/skus` (Compute Engine). A machine's
  price is summed as Cyclenerd's pricing.pl does (the catalog's GCP price source): vCPUs x the family's
  `<F> Instance Core` SKU + GiB x its `<F> Instance Ram` SKU + GPUs x the accelerator's `... GPU running` SKU
  (+ the bundled Local SSD at its GiB-month price / 730), on-demand SKUs whose serviceRegions hold the region,
  rounded to 6 decimals as the catalog is. Credentials: GOOGLE_API_KEY, else GOOGLE_OAUTH_ACCESS_TOKEN, else
  `gcloud auth print-access-token`.

Exit status: 0 refreshed (or nothing changed), 1 an API returned no price for a type the catalog prices
(nothing is written), 2 bad arguments or no credentials."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import yaml

from llm_platform_policy.catalog import CATALOG_FILE

AWS_FILTERS = {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used", "marketoption": "OnDemand"}
GCP_BILLING_ENDPOINT = "https://cloudbilling.googleapis.com"
COMPUTE_ENGINE_SERVICE = "6F81-5844-456A"
HOURS_PER_MONTH = 730
# SKU description prefixes of each accelerator's on-demand GPU (Cyclenerd build/mapping.csv @ fd66b26f).
GPU_SKU = {
    "nvidia-l4": "Nvidia L4 GPU running",
    "nvidia-tesla-a100": "Nvidia Tesla A100 GPU running",
    "nvidia-a100-80gb": "Nvidia Tesla A100 80GB GPU running",
    "nvidia-h100-80gb": "Nvidia H100 80GB GPU running",
}
LOCAL_SSD_SKU = "SSD backed Local Storage"


class RefreshError(Exception):
    """No price for something the catalog prices, or an API that could not be asked."""


@dataclass(frozen=True)
class Machine:
    """What a Google Cloud machine type's price is made of."""

    name: str
    series: str
    """The SKU series of its cores and memory, e.g. `G2` (`G2 Instance Core running in ...`)."""
    vcpus: int
    memory_gib: float
    gpus: int = 0
    accelerator: str = ""
    local_ssd_gb: float = 0


def priced(raw: Mapping[str, Any], cloud: str, types: Iterable[str] = (), regions: Iterable[str] = ()) -> dict[str, dict[str, float]]:
    """{type: {region: on-demand price}} of the catalog's `cloud` section (limited to `types` and `regions` when given)."""
    section = raw[cloud]
    families = list(section["gpuFamilies"].values()) + list(section["generalFamilies"].values())
    types, regions = set(types), set(regions)
    found = {}
    for family in families:
        for name, spec in family["sizes"].items():
            prices = {region: usd for region, usd in spec["onDemandUsdPerHour"].items() if not regions or region in regions}
            if prices and (not types or name in types):
                found[name] = prices
    return found


def gcp_machines(raw: Mapping[str, Any]) -> dict[str, Machine]:
    section = raw["gcp"]
    machines = {}
    for family in section["gpuFamilies"].values():
        for name, spec in family["sizes"].items():
            machines[name] = Machine(
                name, name.split("-")[0].upper(), spec["vcpus"], spec["memoryGiB"], spec["gpus"], family["acceleratorType"], spec["gpus"] * family.get("localSsdGbPerGpu", 0)
            )
    for family in section["generalFamilies"].values():
        for name, spec in family["sizes"].items():
            machines[name] = Machine(name, name.split("-")[0].upper(), spec["vcpus"], spec["memoryGiB"])
    return machines


# -- AWS ---------------------------------------------------------------------------------------------------


def aws_price(client: Any, instance_type: str, region: str) -> float:
    """The on-demand Linux USD price per hour of `instance_type` in `region`, from the Price List Query API."""
    filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}, {"Type": "TERM_MATCH", "Field": "instanceType", "Value": instance_type}]
    filters += [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in AWS_FILTERS.items()]
    prices = set()
    kwargs = {"ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "Filters": filters}
    while True:
        page = client.get_products(**kwargs)
        for item in page["PriceList"]:
            product = json.loads(item)
            for term in product["terms"].get("OnDemand", {}).values():
                for dimension in term["priceDimensions"].values():
                    usd = float(dimension["pricePerUnit"].get("USD", 0))
                    if usd > 0:
                        prices.add(usd)
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    if len(prices) != 1:
        found = "no on-demand price" if not prices else f"{len(prices)} different prices {sorted(prices)}"
        raise RefreshError(f"AWS Price List: {found} for {instance_type} in {region} (Linux, shared tenancy, no pre-installed software, used capacity)")
    return prices.pop()


def refresh_aws(client: Any, current: Mapping[str, Mapping[str, float]]) -> tuple[dict[str, dict[str, float]], list[str]]:
    fresh, problems = {}, []
    for name, regions in current.items():
        for region in regions:
            try:
                fresh.setdefault(name, {})[region] = aws_price(client, name, region)
            except RefreshError as exc:
                problems.append(str(exc))
    return fresh, problems


# -- Google Cloud ------------------------------------------------------------------------------------------


def gcp_skus(get_json: Callable[[str], dict]) -> list[dict]:
    """Every public Compute Engine SKU, following `nextPageToken`."""
    skus, token = [], ""
    while True:
        query = {"pageToken": token} if token else {}
        page = get_json(f"/v1/services/{COMPUTE_ENGINE_SERVICE}/skus" + (f"?{urlencode(query)}" if query else ""))
        skus += page.get("skus", [])
        token = page.get("nextPageToken", "")
        if not token:
            return skus


def _unit_price(sku: dict, unit: str) -> float:
    expression = sku["pricingInfo"][0]["pricingExpression"]
    if expression["usageUnit"] != unit:
        raise RefreshError(f"Cloud Billing SKU {sku['skuId']} ({sku['description']}) is priced per {expression['usageUnit']}, expected {unit}")
    # Compute SKUs have one tier from 0; the last tier is the marginal price where there are more.
    price = expression["tieredRates"][-1]["unitPrice"]
    return int(price["units"]) + price["nanos"] / 1e9


def _sku(skus: list[dict], region: str, family: str, group: str, prefix: str) -> dict | None:
    for sku in skus:
        category = sku["category"]
        if (category["resourceFamily"], category["resourceGroup"], category["usageType"]) == (family, group, "OnDemand"):
            if sku["description"].startswith(prefix) and region in sku["serviceRegions"]:
                return sku
    return None


def gcp_price(skus: list[dict], machine: Machine, region: str) -> float:
    parts = [("Compute", "CPU", f"{machine.series} Instance Core", "h", machine.vcpus), ("Compute", "RAM", f"{machine.series} Instance Ram", "GiBy.h", machine.memory_gib)]
    if machine.gpus:
        parts.append(("Compute", "GPU", GPU_SKU[machine.accelerator], "h", machine.gpus))
    if machine.local_ssd_gb:
        parts.append(("Storage", "LocalSSD", LOCAL_SSD_SKU, "GiBy.mo", machine.local_ssd_gb / HOURS_PER_MONTH))
    total = 0.0
    for family, group, prefix, unit, quantity in parts:
        sku = _sku(skus, region, family, group, prefix)
        if sku is None:
            raise RefreshError(f"Cloud Billing Catalog: no on-demand '{prefix}' SKU in {region}, needed for {machine.name}")
        total += quantity * _unit_price(sku, unit)
    return round(total, 6)


def refresh_gcp(skus: list[dict], machines: Mapping[str, Machine], current: Mapping[str, Mapping[str, float]]) -> tuple[dict[str, dict[str, float]], list[str]]:
    fresh, problems = {}, []
    for name, regions in current.items():
        for region in regions:
            try:
                fresh.setdefault(name, {})[region] = gcp_price(skus, machines[name], region)
            except RefreshError as exc:
                problems.append(str(exc))
    return fresh, problems


def gcp_getter(endpoint: str, env: Mapping[str, str]) -> Callable[[str], dict]:
    """GET a Cloud Billing path as JSON with an API key, or a person's OAuth token."""
    key = env.get("GOOGLE_API_KEY", "").strip()
    headers = {}
    if not key:
        token = env.get("GOOGLE_OAUTH_ACCESS_TOKEN", "").strip()
        if not token:
            from tools.stage_model import StageError, _gcloud_token

            try:
                token = _gcloud_token()
            except StageError as exc:
                raise RefreshError(f"no Google credentials: set GOOGLE_API_KEY, or {exc}") from None
        headers["Authorization"] = f"Bearer {token}"

    def get(path: str) -> dict:
        url = endpoint + path
        if key:
            url += ("&" if "?" in url else "?") + urlencode({"key": key})
        with urlopen(Request(url, headers=headers), timeout=60) as response:
            return json.loads(response.read())

    return get


# -- writing back ------------------------------------------------------------------------------------------


def rewrite(text: str, fresh: Mapping[str, Mapping[str, float]]) -> str:
    """`text` with each type's `onDemandUsdPerHour` entries set to `fresh` (the rest of each line kept)."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        match = re.match(r"\s+([\w.-]+): \{.*onDemandUsdPerHour: (\{[^}]*\})", line)
        if not match or match.group(1) not in fresh:
            continue
        prices = fresh[match.group(1)]
        old = match.group(2)
        new = re.sub(r"([\w-]+): ([0-9.]+)", lambda m: f"{m.group(1)}: {prices[m.group(1)]!r}" if m.group(1) in prices else m.group(0), old)
        lines[index] = line[: match.start(2)] + new + line[match.end(2) :]
    return "".join(lines)


def main(argv: list[str] | None = None, env: Mapping[str, str] = os.environ, aws_client: Any = None, gcp_endpoint: str = GCP_BILLING_ENDPOINT) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cloud", choices=["aws", "gcp"], action="append", help="refresh only this cloud (repeatable; default both)")
    parser.add_argument("--type", action="append", default=[], help="refresh only this instance or machine type (repeatable)")
    parser.add_argument("--region", action="append", default=[], help="refresh only this region (repeatable)")
    parser.add_argument("--catalog", type=Path, default=CATALOG_FILE)
    parser.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    args = parser.parse_args(argv)

    text = args.catalog.read_text()
    raw = yaml.safe_load(text)
    fresh, problems = {}, []
    try:
        for cloud in args.cloud or ["aws", "gcp"]:
            current = priced(raw, cloud, args.type, args.region)
            if cloud == "aws":
                if aws_client is None:
                    import boto3

                    # The Price List Query API is served from us-east-1 (and two other regions) for every region's prices.
                    aws_client = boto3.client("pricing", region_name="us-east-1")
                found, missing = refresh_aws(aws_client, current)
            else:
                found, missing = refresh_gcp(gcp_skus(gcp_getter(gcp_endpoint, env)), gcp_machines(raw), current)
            fresh.update(found)
            problems += missing
    except RefreshError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if problems:
        print("error: no price for types the catalog prices (nothing written):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    updated = rewrite(text, fresh)
    diff = "".join(difflib.unified_diff(text.splitlines(keepends=True), updated.splitlines(keepends=True), str(args.catalog), str(args.catalog)))
    print(diff or "No price changed.")
    if diff and not args.dry_run:
        args.catalog.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
