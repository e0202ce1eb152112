"""The metric names the pinned exporters expose, and the metric names a PromQL expression uses."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import promql_parser
import yaml

METRICS_FILE = Path(__file__).resolve().parent / "exported_metrics.yaml"
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


@cache
def exported() -> frozenset[str]:
    """Every series name the pinned exporters expose, histograms expanded to their series."""
    names = set()
    for exporter in yaml.safe_load(METRICS_FILE.read_text()).values():
        for name, kind in exporter["metrics"].items():
            names.add(name)
            if kind == "histogram":
                names.update(name + suffix for suffix in HISTOGRAM_SERIES)
    return frozenset(names)


def used_in(expression: str) -> set[str]:
    """Metric names an expression selects. Grafana's `$__rate_interval` is swapped for a duration first,
    since it is not PromQL."""
    names: set[str] = set()

    def visit(node) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        for child in ("expr", "lhs", "rhs", "vector_selector", "param"):
            if hasattr(node, child) and getattr(node, child) is not None:
                visit(getattr(node, child))
        for arg in getattr(node, "args", None) or []:
            visit(arg)

    visit(promql_parser.parse(expression.replace("$__rate_interval", "5m")))
    return names
