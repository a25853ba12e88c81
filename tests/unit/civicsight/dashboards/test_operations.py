"""The Operations dashboard's PromQL: every expression is valid for Prometheus' own
``promtool`` (each one a recording rule of a generated rules file), and names only
metrics the hub exports. Running them against a real Prometheus scraping a real hub is
tests/e2e/test_metrics_hub.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from civicsight.dashboards.build import ROOT
from civicsight.dashboards.queries import expand, of_type
from civicsight.metric_names import CATALOGUE

PROMTOOL = shutil.which("promtool")
OPERATIONS = ROOT / "build/operations.json"
STANDARD = {"up", "process_cpu_seconds_total", "process_resident_memory_bytes"}
"""Series every target has without the catalogue: Prometheus' own, the process collector's."""
NOT_CHARTED = {"civicsight_batches_total", "civicsight_resumes_total"}
"""Exported for ad-hoc queries; the dashboard shows events and pauses instead."""
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="Debian's prometheus: scripts/prometheus-deps.sh"
)


def expressions() -> list[tuple[str, str]]:
    import json

    dashboard = json.loads(OPERATIONS.read_text())
    found = [(t.panel, t.query["expr"]) for t in of_type(dashboard, "prometheus")]
    assert len(found) >= 20
    return found


def promtool_check(tmp_path: Path, exprs: list[str]) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    rules = [{"record": f"civicsight:dashboard_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    return subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )


@needs_promtool
def test_promtool_accepts_every_expression(tmp_path: Path) -> None:
    """Guards a panel Grafana shows as an error: an expression Prometheus cannot parse."""
    done = promtool_check(tmp_path, [expand(e) for _, e in expressions()])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(expressions())} rules found" in done.stdout


@needs_promtool
def test_promtool_check_can_fail(tmp_path: Path) -> None:
    """Guards the check above passing whatever it is given."""
    done = promtool_check(tmp_path, ["sum by (service (rate(civicsight_events_in_total[1m]))"])
    assert done.returncode != 0


@pytest.mark.parametrize(("panel", "expr"), expressions())
def test_every_expression_names_exported_metrics(panel: str, expr: str) -> None:
    """Guards a panel querying a metric no process exports (renamed, misspelt), which
    shows an empty graph, never an error."""
    exported = {m.name for m in CATALOGUE} | STANDARD
    names = set(re.findall(r"([a-z_:][a-z0-9_:]*)\{", expr))
    assert names, expr
    for name in names:
        base = re.sub(r"_(bucket|count|sum)$", "", name)
        assert name in exported or base in exported, f"{panel}: {name}"


def test_every_exported_metric_is_charted() -> None:
    """Guards a metric added to the catalogue that no panel shows."""
    charted = " ".join(e for _, e in expressions())
    missing = {m.name for m in CATALOGUE if m.name not in charted}
    assert missing == NOT_CHARTED


@pytest.mark.parametrize(
    ("expr", "expanded"),
    [
        ('rate(x{service=~"$service"}[$__rate_interval])', 'rate(x{service=~".*"}[1m])'),
        ("increase(x[$__range])", "increase(x[5m])"),
        ('x{camera=~"${camera}"}', 'x{camera=~".*"}'),
    ],
)
def test_grafana_variables_are_put_in(expr: str, expanded: str) -> None:
    assert expand(expr) == expanded
