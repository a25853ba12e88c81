"""The queries inside built dashboards, for checking them without Grafana: every PromQL
expression with Grafana's variables put in (so ``promtool`` and a real Prometheus can
run it), every Elasticsearch query with the index its data source reads, every Infinity
query. Pure: it reads dashboard JSON."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
}
"""What Grafana puts in for its own variables (a scrape interval of 15 s and less)."""


@dataclass(frozen=True)
class Target:
    """One query of one panel: the panel's title, its data source and the query."""

    panel: str
    datasource: dict[str, Any]
    query: dict[str, Any]


def targets(dashboard: dict[str, Any]) -> Iterator[Target]:
    """Every query of every panel (rows' nested panels included)."""
    for panel in dashboard.get("panels", []):
        nested = panel.get("panels", []) if panel.get("type") == "row" else [panel]
        for p in nested:
            for query in p.get("targets", []):
                source = query.get("datasource") or p.get("datasource") or {}
                yield Target(str(p.get("title", "")), source, query)


def of_type(dashboard: dict[str, Any], plugin: str) -> list[Target]:
    return [t for t in targets(dashboard) if t.datasource.get("type") == plugin]


def expand(expr: str, variables: dict[str, str] | None = None) -> str:
    """``expr`` with Grafana's variables and the dashboard's (``$name``: ``.*``, every
    value of a regex matcher) put in: a PromQL expression Prometheus can run."""
    for name, value in {**GRAFANA_VARIABLES, **(variables or {})}.items():
        expr = expr.replace(name, value)
    return re.sub(r"\$\{?[A-Za-z_]\w*\}?", ".*", expr)
