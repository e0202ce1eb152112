"""The weight benchmark runs its four paths against its loopback stand-in and reports each; no timing is
asserted (the figures are the README's, measured with `make bench-weights`)."""

import threading
from http.server import ThreadingHTTPServer

import boto3
from botocore.config import Config

from llm_platform.platform.pod.fetch_weights import S3Store
from tools import bench_weights


def test_every_path_is_measured_and_reported(capsys):
    assert bench_weights.main(["--files", "2", "--mib", "1", "--rounds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("2 shards x 1 MiB, 1 paired rounds")
    rows = [line.split(" | ")[0].strip("| ") for line in lines[3:]]
    assert rows == ["sequential copy", "fetcher download", "sha256, 1 thread", "sha256, 4 threads"]
    assert lines[3].endswith("| 1.00x |") and lines[5].endswith("| 1.00x |")


def test_the_fetcher_download_through_the_stand_in_is_byte_exact(tmp_path):
    shard = tmp_path / "shard.safetensors"
    shard.write_bytes(bytes(range(256)) * 40_000)
    server = ThreadingHTTPServer(("127.0.0.1", 0), bench_weights._handler({"shard.safetensors": shard}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{server.server_address[1]}", region_name="us-west-2",
            aws_access_key_id="x", aws_secret_access_key="x", config=Config(s3={"addressing_style": "path"}),
        )
        (tmp_path / "out").mkdir()
        bench_weights._fetcher_download(S3Store(client), ["shard.safetensors"], tmp_path / "out")
    finally:
        server.shutdown()
        server.server_close()
    assert (tmp_path / "out" / "shard.safetensors").read_bytes() == shard.read_bytes()
