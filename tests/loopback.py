"""The HTTP servers tests stand up in place of a real service: on a free port of 127.0.0.1, served from a
thread while the server is entered as a context manager."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer(ThreadingHTTPServer):
    # Handler threads may still be sleeping in a delay when a test ends; don't wait for them.
    block_on_close = False
    # socketserver's default listen backlog of 5 overflows when a test opens many connections at once; the
    # kernel then drops SYNs and the client retries a second later, skewing every timing.
    request_queue_size = 128

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        # A short poll keeps shutdown, and so each test, fast (the default waits up to half a second).
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join()
