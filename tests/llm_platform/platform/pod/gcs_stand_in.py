"""An in-process stand-in for the Google endpoints the weights fetcher and `make stage-model` call: the
Cloud Storage JSON API (objects.list, objects.get with and without alt=media, objects.delete,
buckets.testIamPermissions and resumable uploads) and the metadata server's token endpoint. Both reach
it through STORAGE_EMULATOR_HOST and GCE_METADATA_HOST, as Google's own libraries would.

Only what they use is modelled, the way Google documents it: object names percent-encoded as one path
segment, sizes as strings, `nextPageToken` paging, errors as {"error": {"code", "message"}}, a 404 for a
missing bucket or object, a token endpoint that insists on `Metadata-Flavor: Google`, and resumable
upload sessions that take chunks in multiples of 256 KiB, answer 308 with a `Range` header until the
object is complete and then 200 with the object resource.
"""

from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Iterator
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from tests.loopback import LoopbackServer

TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
STORAGE_PATH = "/storage/v1/b/"
UPLOAD_PATH = "/upload/storage/v1/b/"
ELSEWHERE_PATH = "/elsewhere"
# https://cloud.google.com/storage/docs/performing-resumable-uploads
CHUNK_MULTIPLE = 256 * 1024
# What roles/storage.objectAdmin holds on a bucket, of the permissions the tools ask about.
OBJECT_ADMIN = {"storage.objects.create", "storage.objects.delete", "storage.objects.get", "storage.objects.list"}


@dataclass
class Fault:
    """The next `method` request (GET, or PUT to an upload session) whose decoded path contains `path_part`
    is answered with `status` (a 3xx redirects a GET to ELSEWHERE_PATH), or, with `truncate`, with the
    first half of a GET's body before the connection closes. A PUT is matched with its query, where an
    upload session names its object. With `keep_chunk`, the PUT's bytes are stored before the fault
    answers, as when the server kept them but its answer was lost. The first `after` matching requests
    pass untouched. With `truncate` and `hold`, the connection stays open after the first half until `hold`
    is set: a transfer in progress, for killing its client mid-download."""

    path_part: str
    status: int = 503
    truncate: bool = False
    method: str = "GET"
    keep_chunk: bool = False
    after: int = 0
    hold: threading.Event | None = None


@dataclass
class _Session:
    bucket: str
    name: str
    size: int | None
    fields: dict[str, object]
    data: bytearray = field(default_factory=bytearray)
    done: bool = False


@dataclass
class GCSStandIn:
    buckets: set[str]
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    attributes: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)
    """contentType and metadata of the objects uploaded, as the JSON body that started the upload gave them."""
    denied_buckets: set[str] = field(default_factory=set)
    permissions: set[str] = field(default_factory=lambda: set(OBJECT_ADMIN))
    """What testIamPermissions says the caller holds on the buckets that are not denied."""
    page_size: int = 1000
    token_lifetime: int = 3599
    faults: list[Fault] = field(default_factory=list)
    issued_tokens: list[str] = field(default_factory=list)
    """Every token the metadata server handed out, in order."""
    user_tokens: list[str] = field(default_factory=list)
    """Tokens accepted besides those, as `gcloud auth print-access-token` would hand them to a person."""
    storage_requests: list[tuple[str, str]] = field(default_factory=list)
    """(raw path with query, token) of every storage GET that carried a valid token."""
    writes: list[tuple[str, str, str]] = field(default_factory=list)
    """(method, object name, Content-Range of a PUT or '') of every write request that carried a valid
    token, in order: POST starts an upload, PUT sends its bytes, DELETE deletes."""
    elsewhere_requests: list[str] = field(default_factory=list)
    """The Authorization header of every request that followed a redirect."""
    endpoint: str = ""
    metadata_host: str = ""
    sessions: dict[str, _Session] = field(default_factory=dict)

    def put(self, bucket: str, name: str, content: bytes) -> None:
        self.objects[(bucket, name)] = content
        self.attributes.pop((bucket, name), None)

    def list_requests(self) -> list[str]:
        return [path for path, _ in self.storage_requests if urlsplit(path).path.endswith("/o")]

    def chunk_ranges(self, name: str) -> list[str]:
        """The Content-Range of every PUT of an upload of `name`, in order."""
        return [content_range for method, written, content_range in self.writes if method == "PUT" and written == name]

    def _take_fault(self, method: str, target: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and fault.path_part in target:
                if fault.after:
                    fault.after -= 1
                    return None
                self.faults.remove(fault)
                return fault
        return None

    def _resource(self, bucket: str, name: str) -> dict[str, object]:
        resource = {"kind": "storage#object", "bucket": bucket, "name": name, "size": str(len(self.objects[(bucket, name)]))}
        return {**resource, **self.attributes.get((bucket, name), {})}


_CHUNK_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_STATUS_RANGE = re.compile(r"bytes \*/(\d+)")


def _handler(stand_in: GCSStandIn, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json", truncate: Fault | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if truncate else body)
            if truncate and truncate.hold:
                self.wfile.flush()
                truncate.hold.wait()

        def _error(self, status: int, message: str) -> None:
            self._send(status, json.dumps({"error": {"code": status, "message": message, "errors": [{"message": message}]}}).encode())

        def _json(self, status: int, body: dict[str, object]) -> None:
            self._send(status, json.dumps(body).encode())

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def _token(self) -> str | None:
            """The caller's valid token, or None once a 401 has been answered."""
            authorization = self.headers.get("Authorization", "")
            token = authorization.removeprefix("Bearer ")
            if not authorization.startswith("Bearer ") or token not in stand_in.issued_tokens + stand_in.user_tokens:
                self._error(401, "Invalid Credentials")
                return None
            return token

        def _refused(self, bucket: str) -> bool:
            """Whether the bucket is denied or missing, in which case the error has been answered."""
            if bucket in stand_in.denied_buckets:
                self._error(403, f"sa@project.iam.gserviceaccount.com does not have storage.objects.get access to the Google Cloud Storage bucket {bucket}.")
            elif bucket not in stand_in.buckets:
                self._error(404, "The specified bucket does not exist.")
            else:
                return False
            return True

        def do_GET(self) -> None:
            parsed = urlsplit(self.path)
            with lock:
                fault = stand_in._take_fault("GET", unquote(parsed.path))
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
                self._metadata_token()
            elif parsed.path.startswith(STORAGE_PATH):
                self._storage(parsed.path[len(STORAGE_PATH) :], parse_qs(parsed.query), truncate=fault)
            else:
                self._error(404, "no such endpoint")

        def _metadata_token(self) -> None:
            if self.headers.get("Metadata-Flavor") != "Google":
                self._error(403, "Missing Metadata-Flavor:Google header.")
                return
            with lock:
                token = f"ya29.stand-in-token-{len(stand_in.issued_tokens) + 1}"
                stand_in.issued_tokens.append(token)
            self._json(200, {"access_token": token, "expires_in": stand_in.token_lifetime, "token_type": "Bearer"})

        def _storage(self, rest: str, query: dict[str, list[str]], truncate: Fault | None) -> None:
            token = self._token()
            if token is None:
                return
            with lock:
                stand_in.storage_requests.append((self.path, token))
            # The bucket and the object name are single, percent-encoded path segments.
            bucket_segment, _, tail = rest.partition("/")
            bucket = unquote(bucket_segment)
            if tail == "iam/testPermissions" and bucket in stand_in.buckets:
                # The method needs no permission: it answers what the caller holds, nothing on a denied bucket.
                held = set() if bucket in stand_in.denied_buckets else stand_in.permissions
                granted = [permission for permission in query.get("permissions", []) if permission in held]
                self._json(200, {"kind": "storage#testIamPermissionsResponse", **({"permissions": granted} if granted else {})})
            elif self._refused(bucket):
                pass
            elif tail == "o":
                self._list(bucket, query)
            elif tail.startswith("o/") and "/" not in tail[2:]:
                name = unquote(tail[2:])
                if (bucket, name) not in stand_in.objects:
                    self._error(404, "No such object.")
                elif query.get("alt") == ["media"]:
                    self._send(200, stand_in.objects[(bucket, name)], "application/octet-stream", truncate=truncate)
                else:
                    self._json(200, stand_in._resource(bucket, name))
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
            self._json(200, body)

        def do_DELETE(self) -> None:
            parsed = urlsplit(self.path)
            bucket_segment, _, tail = parsed.path.removeprefix(STORAGE_PATH).partition("/")
            bucket, name = unquote(bucket_segment), unquote(tail.removeprefix("o/"))
            if not (parsed.path.startswith(STORAGE_PATH) and tail.startswith("o/")):
                self._error(400, "unsupported request")
                return
            if self._token() is None or self._refused(bucket):
                return
            with lock:
                stand_in.writes.append(("DELETE", name, ""))
                found = stand_in.objects.pop((bucket, name), None) is not None
                stand_in.attributes.pop((bucket, name), None)
            if not found:
                self._error(404, "No such object.")
                return
            self.send_response(204)
            self.end_headers()

        def do_POST(self) -> None:
            parsed = urlsplit(self.path)
            query = parse_qs(parsed.query)
            bucket_segment, _, tail = parsed.path.removeprefix(UPLOAD_PATH).partition("/")
            bucket = unquote(bucket_segment)
            body = self._body()
            if not (parsed.path.startswith(UPLOAD_PATH) and tail == "o" and query.get("uploadType") == ["resumable"] and "name" in query):
                self._error(400, "unsupported request")
                return
            if self._token() is None or self._refused(bucket):
                return
            name = query["name"][0]
            declared = self.headers.get("X-Upload-Content-Length")
            fields = json.loads(body or b"{}")
            with lock:
                stand_in.writes.append(("POST", name, ""))
                upload_id = str(len(stand_in.sessions) + 1)
                stand_in.sessions[upload_id] = _Session(bucket, name, int(declared) if declared else None, fields)
            session_query = urlencode({"uploadType": "resumable", "name": name, "upload_id": upload_id})
            self.send_response(200)
            self.send_header("Location", f"{stand_in.endpoint}{UPLOAD_PATH}{quote(bucket, safe='')}/o?{session_query}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_PUT(self) -> None:
            parsed = urlsplit(self.path)
            session = stand_in.sessions.get(parse_qs(parsed.query).get("upload_id", [""])[0])
            body = self._body()
            content_range = self.headers.get("Content-Range", "")
            if self._token() is None:
                return
            if session is None or not parsed.path.startswith(UPLOAD_PATH):
                self._error(404, "No such upload session.")
                return
            with lock:
                stand_in.writes.append(("PUT", session.name, content_range))
                fault = stand_in._take_fault("PUT", unquote(self.path))
            if fault is not None:
                if fault.keep_chunk:
                    self._take_chunk(session, content_range, body)
                self._error(fault.status, "injected fault")
                return
            problem = self._take_chunk(session, content_range, body)
            if problem:
                self._error(400, problem)
            elif session.done:
                self._json(200, stand_in._resource(session.bucket, session.name))
            else:
                self.send_response(308, "Resume Incomplete")
                if session.data:
                    self.send_header("Range", f"bytes=0-{len(session.data) - 1}")
                self.send_header("Content-Length", "0")
                self.end_headers()

        def _take_chunk(self, session: _Session, content_range: str, body: bytes) -> str | None:
            """Store a chunk, or answer a status query; a problem with the request, if any."""
            chunk, status = _CHUNK_RANGE.fullmatch(content_range), _STATUS_RANGE.fullmatch(content_range)
            total = int((chunk or status).group(3 if chunk else 1)) if chunk or status else None
            if total is None or (session.size is not None and total != session.size):
                return f"Content-Range {content_range!r} does not give the object's size"
            if chunk:
                start, end = int(chunk.group(1)), int(chunk.group(2))
                if session.done or start != len(session.data) or end - start + 1 != len(body) or end >= total:
                    return f"Content-Range {content_range!r} does not continue the {len(session.data)} bytes stored"
                if end + 1 < total and len(body) % CHUNK_MULTIPLE:
                    return f"a chunk that does not end the object must be a multiple of {CHUNK_MULTIPLE} bytes, not {len(body)}"
                session.data += body
            elif body:
                return "a status query has no body"
            if len(session.data) == total and not session.done:
                with lock:
                    session.done = True
                    stand_in.objects[(session.bucket, session.name)] = bytes(session.data)
                    stand_in.attributes[(session.bucket, session.name)] = session.fields
            return None

    return Handler


@contextmanager
def serve_gcs(buckets: set[str]) -> Iterator[GCSStandIn]:
    stand_in = GCSStandIn(buckets=buckets)
    with LoopbackServer(_handler(stand_in, threading.Lock())) as server:
        stand_in.endpoint = server.url
        stand_in.metadata_host = server.url.removeprefix("http://")
        yield stand_in
