"""The built dashboards: the committed JSON is exactly a fresh build, and every
dashboard survives grafana-foundation-sdk's own model classes (decoded by type, then
encoded back unchanged). No Grafana server runs here: the SDK's models are what a
dashboard is checked against."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import dashboard as dm

from civicsight.dashboards import infinity
from civicsight.dashboards.build import DASHBOARDS, ROOT, build_all, stale, write
from civicsight.dashboards.cli import main

BUILT = sorted(DASHBOARDS)


@pytest.fixture(scope="module", autouse=True)
def sdk_plugins() -> None:
    register_default_plugins()
    infinity.register()


def test_the_committed_build_is_a_fresh_build() -> None:
    """Guards a dashboard edited by hand in its JSON (lost at the next build) and code
    changed without rebuilding: run `civicsight dashboards build` and commit."""
    assert stale(ROOT) == []
    assert main(["build", "--check"]) == 0


def test_a_hand_edit_is_caught(tmp_path: Path) -> None:
    """Guards the check above passing whatever the files hold."""
    write(tmp_path)
    assert stale(tmp_path) == []
    path = tmp_path / "build/operations.json"
    path.write_text(path.read_text().replace('"30s"', '"5s"'))
    (tmp_path / "provisioning/dashboards/civicsight.yaml").unlink()
    assert stale(tmp_path) == ["build/operations.json", "provisioning/dashboards/civicsight.yaml"]
    assert main(["build", "--check", "--out", str(tmp_path)]) == 1


@pytest.mark.parametrize("rel", BUILT)
def test_every_dashboard_round_trips_through_the_sdk_models(rel: str) -> None:
    """Guards JSON the SDK's models cannot express (a key they drop, a panel whose
    options they cannot read, a query of an unknown shape): decoded into the SDK's
    classes and encoded again, the dashboard is unchanged."""
    text = (ROOT / rel).read_text()
    decoded = dm.Dashboard.from_json(json.loads(text))
    assert json.dumps(decoded, cls=JSONEncoder, indent=2, sort_keys=True) + "\n" == text


@pytest.mark.parametrize("rel", BUILT)
def test_every_query_and_panel_is_decoded_by_its_type(rel: str) -> None:
    """Guards a round trip passing only because the SDK carried an unknown query along
    as a bag of keys: each query is its plugin's model, each panel's options its own."""
    decoded = dm.Dashboard.from_json(json.loads((ROOT / rel).read_text()))
    panels = [p for p in decoded.panels or [] if isinstance(p, dm.Panel)]
    assert panels
    for panel in panels:
        assert panel.title and panel.description and panel.options is not None, panel.title
        assert type(panel.options).__module__.endswith(panel.type_val), panel.title
        for query in panel.targets or []:
            assert not isinstance(query, cogruntime.UnknownDataquery), panel.title


def test_dashboards_have_distinct_uids_and_titles() -> None:
    built = [json.loads(text) for rel, text in build_all().items() if rel.endswith(".json")]
    assert len({d["uid"] for d in built}) == len({d["title"] for d in built}) == len(DASHBOARDS)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"uql": "parse-json"}, "unknown keys"),
        ({"parser": "uql"}, "parser"),
        ({"url_options": {"method": "POST", "params": []}}, "only GET"),
        ({"columns": [{"selector": "count", "text": "count", "jsonPath": "$.x"}]}, "column"),
    ],
)
def test_the_infinity_model_refuses_what_it_does_not_know(
    change: dict[str, Any], error: str
) -> None:
    """Guards the Infinity model (the SDK has none) accepting any query, which would
    make its round trip check nothing."""
    query = infinity.Query().url("/api/traffic/od").column("count", "number").build().to_json()
    plain = json.loads(json.dumps(query, cls=JSONEncoder))
    assert infinity.Dataquery.from_json(plain).to_json() == query
    with pytest.raises(ValueError, match=error):
        infinity.Dataquery.from_json({**plain, **change})


def test_build_writes_under_the_given_folder(tmp_path: Path) -> None:
    out = tmp_path / "dashboards"
    assert main(["build", "--out", str(out)]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        build_all()
    )
    shutil.rmtree(out)
