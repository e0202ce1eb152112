"""A stand-in for Prometheus's HTTP API (`GET /api/v1/query`), for testing clients without a cluster.

Stdlib only. Answers each instant query from a table of PromQL text -> value as a one-sample vector (the
shape Prometheus gives an aggregated query); a query not in the table gets an empty vector (no data), a value
of None the `NaN` Prometheus gives 0/0. Every query is recorded.

    with PrometheusStandIn({'sum(...)': 0.5}) as prometheus:
        ...  # point the client at prometheus.url
"""

from __future__ import annotations

import json
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback import LoopbackServer


class PrometheusStandIn(LoopbackServer):
    def __init__(self, values: dict[str, float | None]) -> None:
        super().__init__(_Handler)
        self.values = values
        self.queries: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    server: PrometheusStandIn

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/api/v1/query":
            return self._send(HTTPStatus.NOT_FOUND, {"status": "error", "errorType": "not_found", "error": url.path})
        (promql,) = urllib.parse.parse_qs(url.query)["query"]
        self.server.queries.append(promql)
        result = []
        if promql in self.server.values:
            value = self.server.values[promql]
            result = [{"metric": {}, "value": [1767225600.0, "NaN" if value is None else repr(value)]}]
        self._send(HTTPStatus.OK, {"status": "success", "data": {"resultType": "vector", "result": result}})

    def _send(self, status: HTTPStatus, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
