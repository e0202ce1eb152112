"""The weight path measured on this machine against an object-store stand-in on the loopback.

    python -m tools.bench_weights [--files 4] [--mib 128] [--rounds 3]

A small S3 stand-in on 127.0.0.1 serves shards of random bytes with what boto3's downloader asks of S3
(HeadObject and ranged GetObject, path-style; signatures are not checked). Each round, one after the
other on the same machine (paired runs): the baseline, a plain sequential copy of every shard over one
connection; the fetcher's download (fetch_weights.S3Store with its TransferConfig: ranged parts on
FETCH_CONNECTIONS connections, through .incomplete/ into place); then the fetcher's verification, sha256
of every shard on one thread and on HASH_THREADS threads. Reported: bytes per second and CPU seconds
per GB (user + system of this process, the stand-in included) of each, medians over the rounds, and the ratios of the medians.
The loopback has no network limit, so this measures what the fetcher costs the node (CPU, disk), not
what S3 gives; the start-up budget takes the network from the instance's specification.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import boto3
from botocore.config import Config

from llm_platform.contract import FETCH_CONNECTIONS, HASH_THREADS
from llm_platform.platform.pod.fetch_weights import DOWNLOAD_CHUNK_BYTES, INCOMPLETE_DIR, S3Store, sha256_file

BUCKET = "bench-weights"
_RANGE = re.compile(r"bytes=(\d+)-(\d+)?")


def _handler(objects: dict[str, Path]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _object(self) -> Path | None:
            path = objects.get(self.path.split("?")[0].removeprefix(f"/{BUCKET}/"))
            if path is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
            return path

        def _headers(self, status: int, length: int, path: Path) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(length))
            self.send_header("ETag", f'"{path.name}"')
            self.send_header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()

        def do_HEAD(self) -> None:
            if path := self._object():
                self._headers(200, path.stat().st_size, path)

        def do_GET(self) -> None:
            if not (path := self._object()):
                return
            size = path.stat().st_size
            start, end = 0, size - 1
            if match := _RANGE.fullmatch(self.headers.get("Range", "")):
                start, end = int(match.group(1)), min(int(match.group(2) or size - 1), size - 1)
            self._headers(206 if self.headers.get("Range") else 200, end - start + 1, path)
            with path.open("rb") as handle:
                handle.seek(start)
                left = end - start + 1
                while left:
                    chunk = handle.read(min(left, DOWNLOAD_CHUNK_BYTES))
                    self.wfile.write(chunk)
                    left -= len(chunk)

    return Handler


def _timed(action: Callable[[], None]) -> tuple[float, float]:
    """Wall and CPU (user + system of this process) seconds of `action`."""
    cpu, wall = time.process_time(), time.perf_counter()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def _sequential_copy(endpoint: str, names: list[str], target: Path) -> None:
    for name in names:
        with urllib.request.urlopen(f"{endpoint}/{BUCKET}/{name}") as response, (target / name).open("wb") as out:
            shutil.copyfileobj(response, out, DOWNLOAD_CHUNK_BYTES)


def _fetcher_download(store: S3Store, names: list[str], target: Path) -> None:
    (target / INCOMPLETE_DIR).mkdir()
    for name in names:
        partial = target / INCOMPLETE_DIR / f"{name}.partial"
        store.download_object(BUCKET, name, partial)
        os.replace(partial, target / name)


def _hash(paths: list[Path], threads: int) -> None:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(sha256_file, paths))


def run(files: int, mib: int, rounds: int) -> dict[str, dict[str, float]]:
    results: dict[str, list[tuple[float, float]]] = {"sequential copy": [], "fetcher download": [], "sha256, 1 thread": [], f"sha256, {HASH_THREADS} threads": []}
    with tempfile.TemporaryDirectory(prefix="bench-weights-") as workdir:
        source = Path(workdir) / "bucket"
        source.mkdir()
        names = [f"model-{index + 1:05d}-of-{files:05d}.safetensors" for index in range(files)]
        for name in names:
            with (source / name).open("wb") as out:
                for _ in range(mib):
                    out.write(os.urandom(2**20))
        total = files * mib * 2**20
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler({name: source / name for name in names}))
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-west-2",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=FETCH_CONNECTIONS, retries={"max_attempts": 1}),
        )
        store = S3Store(client)
        try:
            for _ in range(rounds):
                for label, action in (
                    ("sequential copy", lambda target: _sequential_copy(endpoint, names, target)),
                    ("fetcher download", lambda target: _fetcher_download(store, names, target)),
                ):
                    target = Path(tempfile.mkdtemp(dir=workdir))
                    results[label].append(_timed(lambda: action(target)))
                    if label == "fetcher download":
                        fetched = [target / name for name in names]
                        results["sha256, 1 thread"].append(_timed(lambda: _hash(fetched, 1)))
                        results[f"sha256, {HASH_THREADS} threads"].append(_timed(lambda: _hash(fetched, HASH_THREADS)))
                    shutil.rmtree(target)
        finally:
            server.shutdown()
            server.server_close()
    return {
        label: {
            "bytes_per_second": statistics.median(total / wall for wall, _ in runs),
            "cpu_seconds_per_gb": statistics.median(cpu / (total / 1e9) for _, cpu in runs),
        }
        for label, runs in results.items()
    }


def report(results: dict[str, dict[str, float]], files: int, mib: int, rounds: int) -> str:
    baseline = results["sequential copy"]["bytes_per_second"]
    one_thread = results["sha256, 1 thread"]["bytes_per_second"]
    lines = [
        f"{files} shards x {mib} MiB, {rounds} paired rounds, {os.cpu_count()} CPUs, loopback; medians",
        "| path | MB/s | CPU s per GB | ratio |",
        "|---|---|---|---|",
    ]
    for label, figures in results.items():
        reference = baseline if label in ("sequential copy", "fetcher download") else one_thread
        lines.append(f"| {label} | {figures['bytes_per_second'] / 1e6:.0f} | {figures['cpu_seconds_per_gb']:.2f} | {figures['bytes_per_second'] / reference:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_weights", description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=4, help="shards (default 4)")
    parser.add_argument("--mib", type=int, default=128, help="MiB per shard (default 128)")
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds (default 3)")
    args = parser.parse_args(argv)
    if min(args.files, args.mib, args.rounds) < 1:
        print("error: --files, --mib and --rounds must be at least 1", file=sys.stderr)
        return 2
    print(report(run(args.files, args.mib, args.rounds), args.files, args.mib, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
