"""A stand-in for an OpenAI-compatible (vLLM-style) server, for testing clients without a GPU.

Stdlib only. Serves `POST /v1/chat/completions` with `stream: true` as Server-Sent Events, shaped like
vLLM's: a role-only chunk, one `chat.completion.chunk` per token, a chunk with the finish reason, a
usage chunk when `stream_options.include_usage` is set, then `data: [DONE]`.

    with StandInServer(api_key="test-key", first_token_delay=0.05, fail_first=2) as server:
        ...  # point the client at server.url; read server.completion_tokens_sent afterwards

Knobs for tests: a delay between the role chunk and the first token (TTFT is at least that), a delay
between tokens (inter-token latency is at least that), the first N authenticated requests answered with
HTTP 500 (or every Nth), the first N streams cut before `data: [DONE]`, a switch to never send usage, and an
`answer` function from the request's messages to the completion's text (one token per word) instead of
`tok0 tok1 ...`. Every request body is kept (`bodies`), so a test can see the conversations a client sent.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from tests.loopback import LoopbackServer

COMPLETIONS_PATH = "/v1/chat/completions"


class StandInServer(LoopbackServer):
    def __init__(
        self,
        *,
        api_key: str | None = "test-key",
        completion_tokens: int = 8,
        first_token_delay: float = 0.0,
        fail_first: int = 0,
        fail_every: int = 0,
        send_usage: bool = True,
        token_delay: float = 0.0,
        cut_first: int = 0,
        answer: Callable[[list[dict[str, Any]]], str] | None = None,
    ) -> None:
        """Serve on a free port of 127.0.0.1 once entered as a context manager.

        `api_key` None accepts any key, like vLLM started without `--api-key`. Each completion is
        `completion_tokens` tokens, fewer if the request's `max_tokens` is lower. The first
        `fail_first` authenticated requests get HTTP 500, and with `fail_every` N every Nth one does.
        """
        super().__init__(_Handler)
        self.api_key = api_key
        self.completion_tokens = completion_tokens
        self.first_token_delay = first_token_delay
        self.fail_first = fail_first
        self.fail_every = fail_every
        self.send_usage = send_usage
        self.token_delay = token_delay
        self.cut_first = cut_first
        self.answer = answer
        self.bodies: list[dict[str, Any]] = []
        self._streams = 0
        self._lock = threading.Lock()
        self.authorizations: list[str] = []  # the Authorization header of every request
        self.accepted = 0  # authenticated requests, failed or not
        self.completion_tokens_sent = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout test) leaves a broken pipe behind; anything else is a bug here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 with chunked bodies, as vLLM (uvicorn) streams; keeps client connections alive.
    protocol_version = "HTTP/1.1"
    server: StandInServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        authorization = self.headers.get("Authorization", "")
        server = self.server
        with server._lock:
            server.authorizations.append(authorization)
            server.bodies.append(body)
        if self.path != COMPLETIONS_PATH:
            return self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}", "not_found_error")
        if server.api_key is not None and authorization != f"Bearer {server.api_key}":
            return self._error(
                HTTPStatus.UNAUTHORIZED, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        with server._lock:
            index = server.accepted
            server.accepted += 1
        if index < server.fail_first or (server.fail_every and index % server.fail_every == server.fail_every - 1):
            return self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "injected failure", "server_error")
        if body.get("stream") is not True:
            return self._error(HTTPStatus.BAD_REQUEST, "the stand-in only streams", "invalid_request_error")
        self._stream(body)

    def _error(self, status: HTTPStatus, message: str, kind: str, code: str | None = None) -> None:
        payload = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, body: dict[str, Any]) -> None:
        server = self.server
        words = server.answer(body.get("messages", [])).split() if server.answer else [f"tok{i}" for i in range(server.completion_tokens)]
        tokens = min(len(words), body.get("max_tokens") or len(words))
        include_usage = server.send_usage and bool((body.get("stream_options") or {}).get("include_usage"))
        base = {
            "id": f"chatcmpl-stand-in-{threading.get_ident()}-{time.monotonic_ns()}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", ""),
        }
        # With include_usage, OpenAI sends "usage": null on every chunk but the last.
        usage_field = {"usage": None} if include_usage else {}

        def chunk(delta: dict[str, str], finish_reason: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **usage_field}

        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._event(chunk({"role": "assistant", "content": ""}))
        time.sleep(server.first_token_delay)
        for i, word in enumerate(words[:tokens]):
            if i:
                time.sleep(server.token_delay)
            self._event(chunk({"content": f"{word} "}))
        self._event(chunk({}, "length" if tokens < len(words) else "stop"))
        if include_usage:
            prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": tokens, "total_tokens": prompt_tokens + tokens}
            self._event({**base, "choices": [], "usage": usage})
        with server._lock:
            cut = server._streams < server.cut_first
            server._streams += 1
        # A cut stream ends cleanly (the chunked body's last chunk) but without its final event.
        if not cut:
            self._write(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        with server._lock:
            server.completion_tokens_sent += tokens

    def _event(self, payload: dict[str, Any]) -> None:
        self._write(f"data: {json.dumps(payload)}\n\n".encode())

    def _write(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
