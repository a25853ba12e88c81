"""The dashboards and Grafana's provisioning files, built: JSON text and YAML text by
their path under the top-level ``dashboards/`` folder. ``build_all`` is pure;
``write`` puts the files there and ``stale`` says which differ from a fresh build (the
tests fail on any: the JSON is never edited by hand)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm

from civicsight.dashboards.operations import operations
from civicsight.dashboards.sources import dashboards_provisioning, datasources_provisioning
from civicsight.dashboards.traffic import traffic_api, traffic_elasticsearch

DASHBOARDS: dict[str, Callable[[], dm.Dashboard]] = {
    "build/operations.json": operations,
    "build/traffic.json": traffic_api,
    "build/traffic-elasticsearch.json": traffic_elasticsearch,
}
HEADER = "# Built by `civicsight dashboards build` from civicsight/dashboards/: do not edit.\n"
CHECKOUT = Path(__file__).resolve().parents[2]
ROOT = CHECKOUT / "dashboards" if (CHECKOUT / "pyproject.toml").is_file() else Path("dashboards")
"""The checkout's ``dashboards/`` folder (installed from a wheel: ./dashboards)."""


def render(dashboard: dm.Dashboard) -> str:
    """A dashboard as Grafana's JSON (keys sorted: a stable build)."""
    return json.dumps(dashboard, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def dashboard_json(dashboard: dm.Dashboard) -> dict[str, object]:
    """A dashboard as a JSON object (what Grafana's API takes)."""
    loaded: dict[str, object] = json.loads(render(dashboard))
    return loaded


def _yaml(document: dict[str, object]) -> str:
    return HEADER + str(yaml.safe_dump(document, sort_keys=False))


def build_all() -> dict[str, str]:
    """Every built file's text by its path under ``dashboards/``."""
    files = {path: render(make()) for path, make in DASHBOARDS.items()}
    files["provisioning/datasources/civicsight.yaml"] = _yaml(datasources_provisioning())
    files["provisioning/dashboards/civicsight.yaml"] = _yaml(dashboards_provisioning())
    return files


def write(root: Path) -> list[Path]:
    """Write the build under ``root``; returns the files written."""
    written = []
    for rel, text in build_all().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def stale(root: Path) -> list[str]:
    """The built files under ``root`` that are missing or differ from a fresh build."""
    return [
        rel
        for rel, text in build_all().items()
        if not (root / rel).is_file() or (root / rel).read_text() != text
    ]
