"""tools/refresh_prices.py against recorded-shape responses: the AWS Price List Query API through botocore's
Stubber (which checks every request against the pricing service model), the Cloud Billing Catalog API
through a stand-in on 127.0.0.1. The catalog is a copy of the real one; only the prices asked for change."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from llm_platform_policy.catalog import CATALOG_FILE
from tests.loopback import LoopbackServer
from tools import refresh_prices

DATA = Path(__file__).parents[1] / "data" / "pricing"
AWS_RESPONSE = json.loads((DATA / "aws_get_products_g6_xlarge_us_east_1.json").read_text())
FILTERS = {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used", "marketoption": "OnDemand"}


@pytest.fixture
def catalog(tmp_path) -> Path:
    copy = tmp_path / "gpu_catalog.yaml"
    copy.write_text(CATALOG_FILE.read_text())
    return copy


def _response(instance_type: str, region: str, usd: str | None) -> dict:
    """The recorded g6.xlarge answer moved to `instance_type` in `region` with price `usd`, or an empty answer."""
    if usd is None:
        return {"FormatVersion": "aws_v1", "PriceList": []}
    product = json.loads(AWS_RESPONSE["PriceList"][0])
    product["product"]["attributes"].update(regionCode=region, instanceType=instance_type)
    (term,) = product["terms"]["OnDemand"].values()
    (dimension,) = term["priceDimensions"].values()
    dimension["pricePerUnit"]["USD"] = usd
    return {**AWS_RESPONSE, "PriceList": [json.dumps(product)]}


def _stubbed_types(answers: dict[tuple[str, str], str | None]) -> tuple[object, Stubber]:
    """A pricing client that expects one GetProducts call per (instance type, region), in order."""
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    for (instance_type, region), usd in answers.items():
        filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}, {"Type": "TERM_MATCH", "Field": "instanceType", "Value": instance_type}]
        filters += [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in FILTERS.items()]
        stubber.add_response("get_products", _response(instance_type, region, usd), {"ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "Filters": filters})
    stubber.activate()
    return client, stubber


def _stubbed(answers: dict[str, str | None]) -> tuple[object, Stubber]:
    return _stubbed_types({("g6.xlarge", region): usd for region, usd in answers.items()})


def test_the_recorded_answer_keeps_the_catalog_as_it_is(catalog, capsys):
    client, stubber = _stubbed({"us-east-1": "0.8048000000"})
    before = catalog.read_text()
    assert refresh_prices.main(["--cloud", "aws", "--type", "g6.xlarge", "--region", "us-east-1", "--catalog", str(catalog)], aws_client=client) == 0
    stubber.assert_no_pending_responses()
    assert catalog.read_text() == before
    assert "No price changed." in capsys.readouterr().out


def test_a_new_aws_price_is_written_in_place_with_a_diff(catalog, capsys):
    client, stubber = _stubbed({"us-west-2": "0.8048000000", "us-east-1": "0.8112000000", "us-east-2": "0.8048000000", "ap-northeast-2": "0.9896000000"})
    before = catalog.read_text()
    assert refresh_prices.main(["--cloud", "aws", "--type", "g6.xlarge", "--catalog", str(catalog)], aws_client=client) == 0
    stubber.assert_no_pending_responses()
    after = catalog.read_text()
    changed = [(old, new) for old, new in zip(before.splitlines(), after.splitlines()) if old != new]
    assert len(before.splitlines()) == len(after.splitlines())
    ((old, new),) = changed
    assert old.replace("us-east-1: 0.8048,", "us-east-1: 0.8112,") == new
    out = capsys.readouterr().out
    assert f"-{old}" in out and f"+{new}" in out


def test_no_aws_price_for_a_priced_type_fails_and_writes_nothing(catalog, capsys):
    client, _ = _stubbed({"us-west-2": "0.8048000000", "us-east-1": None, "us-east-2": "0.8048000000", "ap-northeast-2": "0.9896000000"})
    before = catalog.read_text()
    assert refresh_prices.main(["--cloud", "aws", "--type", "g6.xlarge", "--catalog", str(catalog)], aws_client=client) == 1
    assert catalog.read_text() == before
    err = capsys.readouterr().err
    assert "nothing written" in err and "no on-demand price for g6.xlarge in us-east-1" in err


def test_a_seoul_refresh_asks_for_every_type_the_catalog_prices_there(catalog, capsys):
    # Seoul's prices as the catalog holds them, asked for one by one: the answer changes nothing.
    seoul = {name: regions["ap-northeast-2"] for name, regions in refresh_prices.priced(yaml.safe_load(catalog.read_text()), "aws", regions=["ap-northeast-2"]).items()}
    assert {"g6e.48xlarge", "p4d.24xlarge", "m7i.large", "c7i.4xlarge"} <= set(seoul) and not {"p5.48xlarge", "m6a.large"} & set(seoul)
    client, stubber = _stubbed_types({(name, "ap-northeast-2"): repr(usd) for name, usd in seoul.items()})
    before = catalog.read_text()
    assert refresh_prices.main(["--cloud", "aws", "--region", "ap-northeast-2", "--catalog", str(catalog)], aws_client=client) == 0
    stubber.assert_no_pending_responses()
    assert catalog.read_text() == before and "No price changed." in capsys.readouterr().out


class _Billing(BaseHTTPRequestHandler):
    """The Cloud Billing Catalog API's skus list: two recorded pages, an API key required."""

    pages = {"": json.loads((DATA / "gcp_compute_skus_page1.json").read_text()), "second": json.loads((DATA / "gcp_compute_skus_page2.json").read_text())}
    seen: list[str] = []

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self.seen.append(self.path)
        if url.path != "/v1/services/6F81-5844-456A/skus" or query.get("key") != ["test-key"]:
            self.send_response(403)
            self.end_headers()
            return
        token = query.get("pageToken", [""])[0]
        page = dict(self.pages["second" if token else ""])
        body = json.dumps(page).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def billing():
    _Billing.seen = []
    _Billing.pages = {"": json.loads((DATA / "gcp_compute_skus_page1.json").read_text()), "second": json.loads((DATA / "gcp_compute_skus_page2.json").read_text())}
    with LoopbackServer(_Billing) as server:
        yield server.url


G2 = ["--cloud", "gcp", "--region", "us-central1", "--type", "g2-standard-4", "--type", "g2-standard-8"]


def test_gcp_totals_from_core_ram_and_gpu_skus_match_the_catalog(catalog, billing, capsys):
    before = catalog.read_text()
    assert refresh_prices.main([*G2, "--catalog", str(catalog)], env={"GOOGLE_API_KEY": "test-key"}, gcp_endpoint=billing) == 0
    assert catalog.read_text() == before
    assert "No price changed." in capsys.readouterr().out
    # Both pages were read, the second by the first's nextPageToken.
    assert len(_Billing.seen) == 2 and "pageToken=" in _Billing.seen[1]


def test_a_new_gpu_sku_price_changes_every_machine_carrying_it(catalog, billing):
    (l4,) = [s for s in _Billing.pages["second"]["skus"] if s["description"] == "Nvidia L4 GPU running in Americas"]
    l4["pricingInfo"][0]["pricingExpression"]["tieredRates"][0]["unitPrice"]["nanos"] = 600_040_000
    assert refresh_prices.main([*G2, "--catalog", str(catalog)], env={"GOOGLE_API_KEY": "test-key"}, gcp_endpoint=billing) == 0
    text = catalog.read_text()
    assert "g2-standard-4: {gpus: 1, vcpus: 4, memoryGiB: 16, onDemandUsdPerHour: {us-central1: 0.746832, europe-west4:" in text
    assert "g2-standard-8: {gpus: 1, vcpus: 8, memoryGiB: 32, onDemandUsdPerHour: {us-central1: 0.893624, europe-west4:" in text
    # Spot prices are not refreshed.
    assert "spotUsdPerHour: {us-central1: 0.397336" in text


def test_a_missing_gcp_sku_fails_and_writes_nothing(catalog, billing, capsys):
    before = catalog.read_text()
    args = ["--cloud", "gcp", "--region", "us-central1", "--type", "a2-highgpu-1g", "--catalog", str(catalog)]
    assert refresh_prices.main(args, env={"GOOGLE_API_KEY": "test-key"}, gcp_endpoint=billing) == 1
    assert catalog.read_text() == before
    assert "no on-demand 'A2 Instance Core' SKU in us-central1, needed for a2-highgpu-1g" in capsys.readouterr().err


def test_the_catalog_says_how_much_local_ssd_comes_with_a2_ultragpu_and_a3():
    machines = refresh_prices.gcp_machines(yaml.safe_load(CATALOG_FILE.read_text()))
    assert (machines["a2-ultragpu-8g"].local_ssd_gb, machines["a3-highgpu-8g"].local_ssd_gb, machines["g2-standard-4"].local_ssd_gb) == (3000, 6000, 0)
    assert machines["a3-highgpu-8g"].series == "A3" and machines["a2-ultragpu-1g"].accelerator == "nvidia-a100-80gb"
