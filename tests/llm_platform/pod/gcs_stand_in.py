"""An in-process stand-in for the two Google endpoints the weights fetcher calls: the Cloud Storage JSON
API (objects.list, and objects.get with alt=media) and the metadata server's token endpoint. The fetcher
reaches it through STORAGE_EMULATOR_HOST and GCE_METADATA_HOST, as Google's own libraries would.

Only what the fetcher uses is modelled, the way Google documents it: object names percent-encoded as one
path segment, sizes as strings, `nextPageToken` paging, errors as {"error": {"code", "message"}}, a 404
for a missing bucket or object, and a token endpoint that insists on `Metadata-Flavor: Google`.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import parse_qs, unquote, urlsplit

TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
STORAGE_PATH = "/storage/v1/b/"
ELSEWHERE_PATH = "/elsewhere"


@dataclass
class Fault:
    """The next request whose decoded path contains `path_part` is answered with `status` (a 3xx
    redirects to ELSEWHERE_PATH), or, with `truncate`, with the first half of its body before the
    connection closes."""

    path_part: str
    status: int = 503
    truncate: bool = False


@dataclass
class GCSStandIn:
    buckets: set[str]
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    denied_buckets: set[str] = field(default_factory=set)
    page_size: int = 1000
    token_lifetime: int = 3599
    faults: list[Fault] = field(default_factory=list)
    issued_tokens: list[str] = field(default_factory=list)
    """Every token the metadata server handed out, in order."""
    storage_requests: list[tuple[str, str]] = field(default_factory=list)
    """(raw path with query, token) of every storage request that carried a valid token."""
    elsewhere_requests: list[str] = field(default_factory=list)
    """The Authorization header of every request that followed a redirect."""
    endpoint: str = ""
    metadata_host: str = ""

    def put(self, bucket: str, name: str, content: bytes) -> None:
        self.objects[(bucket, name)] = content

    def list_requests(self) -> list[str]:
        return [path for path, _ in self.storage_requests if urlsplit(path).path.endswith("/o")]

    def _take_fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.path_part in path:
                self.faults.remove(fault)
                return fault
        return None


def _handler(stand_in: GCSStandIn, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json", truncate: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if truncate else body)

        def _error(self, status: int, message: str) -> None:
            self._send(status, json.dumps({"error": {"code": status, "message": message, "errors": [{"message": message}]}}).encode())

        def do_GET(self) -> None:
            parsed = urlsplit(self.path)
            with lock:
                fault = stand_in._take_fault(unquote(parsed.path))
            if fault is not None and 300 <= fault.status < 400:
                self.send_response(fault.status)
                self.send_header("Location", ELSEWHERE_PATH)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif fault is not None and not fault.truncate:
                self._error(fault.status, "injected fault")
            elif parsed.path == ELSEWHERE_PATH:
                with lock:
                    stand_in.elsewhere_requests.append(self.headers.get("Authorization", ""))
                self._send(200, b"")
            elif parsed.path == TOKEN_PATH:
                self._token()
            elif parsed.path.startswith(STORAGE_PATH):
                self._storage(parsed.path[len(STORAGE_PATH) :], parse_qs(parsed.query), truncate=fault is not None)
            else:
                self._error(404, "no such endpoint")

        def _token(self) -> None:
            if self.headers.get("Metadata-Flavor") != "Google":
                self._error(403, "Missing Metadata-Flavor:Google header.")
                return
            with lock:
                token = f"ya29.stand-in-token-{len(stand_in.issued_tokens) + 1}"
                stand_in.issued_tokens.append(token)
            self._send(200, json.dumps({"access_token": token, "expires_in": stand_in.token_lifetime, "token_type": "Bearer"}).encode())

        def _storage(self, rest: str, query: dict[str, list[str]], truncate: bool) -> None:
            authorization = self.headers.get("Authorization", "")
            token = authorization.removeprefix("Bearer ")
            if not authorization.startswith("Bearer ") or token not in stand_in.issued_tokens:
                self._error(401, "Invalid Credentials")
                return
            with lock:
                stand_in.storage_requests.append((self.path, token))
            # The bucket and the object name are single, percent-encoded path segments.
            bucket_segment, _, tail = rest.partition("/")
            bucket = unquote(bucket_segment)
            if bucket in stand_in.denied_buckets:
                denied = f"sa@project.iam.gserviceaccount.com does not have storage.objects.get access to the Google Cloud Storage bucket {bucket}."
                self._error(403, denied)
            elif bucket not in stand_in.buckets:
                self._error(404, "The specified bucket does not exist.")
            elif tail == "o":
                self._list(bucket, query)
            elif tail.startswith("o/") and "/" not in tail[2:] and query.get("alt") == ["media"]:
                content = stand_in.objects.get((bucket, unquote(tail[2:])))
                if content is None:
                    self._error(404, "No such object.")
                else:
                    self._send(200, content, "application/octet-stream", truncate=truncate)
            else:
                self._error(400, "unsupported request")

        def _list(self, bucket: str, query: dict[str, list[str]]) -> None:
            prefix = query.get("prefix", [""])[0]
            start = int(query.get("pageToken", ["0"])[0])
            size = min(stand_in.page_size, int(query.get("maxResults", [str(stand_in.page_size)])[0]))
            names = sorted(name for (in_bucket, name) in stand_in.objects if in_bucket == bucket and name.startswith(prefix))
            page = names[start : start + size]
            body: dict[str, object] = {"kind": "storage#objects"}
            if page:
                body["items"] = [{"kind": "storage#object", "name": name, "size": str(len(stand_in.objects[(bucket, name)]))} for name in page]
            if start + size < len(names):
                body["nextPageToken"] = str(start + size)
            self._send(200, json.dumps(body).encode())

    return Handler


@contextmanager
def serve_gcs(buckets: set[str]) -> Iterator[GCSStandIn]:
    stand_in = GCSStandIn(buckets=buckets)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in, threading.Lock()))
    host, port = server.server_address[:2]
    stand_in.endpoint = f"http://{host}:{port}"
    stand_in.metadata_host = f"{host}:{port}"
    # A short poll interval keeps shutdown() from adding half a second to every test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
