"""The Traffic dashboards' queries against what they read, without Grafana or
Elasticsearch (neither runs here): every Elasticsearch query against the index
templates' fields and types (civicsight/store/templates/template-traffic-*.json), every
Infinity query against the traffic API's routes, parameters and columns, and those
columns against the traffic rows (civicsight/traffic.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from civicsight import traffic
from civicsight.dashboards.build import ROOT
from civicsight.dashboards.infinity import PLUGIN
from civicsight.dashboards.queries import Target, of_type
from civicsight.dashboards.sources import TRAFFIC_PARAMS, TRAFFIC_ROUTES

TEMPLATES = Path(traffic.__file__).parent / "store" / "templates"
NUMERIC = {"short", "integer", "long", "float", "double", "half_float", "scaled_float"}
FIELD_METRICS = {"sum": NUMERIC, "avg": NUMERIC, "max": NUMERIC, "min": NUMERIC,
                 "percentiles": NUMERIC, "cardinality": NUMERIC | {"keyword"}}  # fmt: skip
BUCKET_TYPES = {"date_histogram": {"date"}, "terms": {"keyword", "boolean"}}
ROWS = {
    "counts": traffic.CountBin,
    "turning": traffic.TurnBin,
    "zones": traffic.ZoneBin,
    "speeds": traffic.SpeedBin,
    "journeys": traffic.JourneyBin,
    "od": traffic.OdBin,
}


def dashboard(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "build" / name).read_text())  # type: ignore[no-any-return]


def provisioned_index(uid: str) -> str:
    doc = yaml.safe_load((ROOT / "provisioning/datasources/civicsight.yaml").read_text())
    (source,) = [d for d in doc["datasources"] if d["uid"] == uid]
    assert source["type"] == "elasticsearch"
    return str(source["jsonData"]["index"])


def mapping(index: str) -> dict[str, str]:
    """field -> type of the template whose index pattern is ``index``."""
    for path in TEMPLATES.glob("template-traffic-*.json"):
        template = json.loads(path.read_text())
        if index in template["index_patterns"]:
            props = template["template"]["mappings"]["properties"]
            return {field: spec["type"] for field, spec in props.items()}
    raise AssertionError(f"no index template for {index}")


def es_problems(uid: str, query: dict[str, Any]) -> list[str]:
    """What is wrong with an Elasticsearch query for the index its data source reads."""
    fields = mapping(provisioned_index(uid))
    wrong = []

    def need(field: str | None, types: set[str], what: str) -> None:
        if field not in fields:
            wrong.append(f"{what}: no field {field!r}")
        elif fields[field] not in types:
            wrong.append(f"{what}: {field} is {fields[field]}, not one of {sorted(types)}")

    need(query.get("timeField"), {"date"}, "time field")
    for agg in query.get("bucketAggs", []):
        need(agg.get("field"), BUCKET_TYPES[agg["type"]], agg["type"])
    for metric in query.get("metrics", []):
        if metric["type"] != "count":
            need(metric.get("field"), FIELD_METRICS[metric["type"]], metric["type"])
    for field, value in re.findall(r"([A-Za-z_][\w.]*):(\S+)", query.get("query", "")):
        need(field, {"keyword", "boolean"}, f"query {field}:{value}")
    return wrong


ES_TARGETS = of_type(dashboard("traffic-elasticsearch.json"), "elasticsearch")
INFINITY_TARGETS = [
    t
    for name in ("traffic.json", "traffic-elasticsearch.json")
    for t in of_type(dashboard(name), PLUGIN)
]


@pytest.mark.parametrize("target", ES_TARGETS, ids=lambda t: t.panel)
def test_elasticsearch_queries_use_the_templates_fields_and_types(target: Target) -> None:
    """Guards a panel aggregating a field the index does not have (a typo, `class` for
    `cls`) or of the wrong type (a sum of a keyword, terms on a number): Grafana shows
    nothing or an error only once it runs against a live cluster."""
    assert es_problems(target.datasource["uid"], target.query) == []


def test_the_elasticsearch_check_can_fail() -> None:
    """Guards the check above accepting anything."""
    bad = {
        "timeField": "stored_at",
        "query": "class:car AND camera:$camera",
        "metrics": [{"type": "sum", "field": "direction", "id": "1"}],
        "bucketAggs": [{"type": "terms", "field": "count", "id": "2"}],
    }
    assert len(es_problems("civicsight-es-traffic-counts", bad)) == 4


def test_every_index_template_is_read_by_the_elasticsearch_dashboard() -> None:
    read = {provisioned_index(t.datasource["uid"]) for t in ES_TARGETS}
    templates = {
        json.loads(p.read_text())["index_patterns"][0]
        for p in TEMPLATES.glob("template-traffic-*.json")
    }
    # Journeys are not read from their index: it holds partial plate-journey bins per
    # indexer run, which only the store's reader merges into percentiles; the
    # Elasticsearch dashboard shows journeys and OD through the hub's API like the other.
    assert read == templates - {"civicsight-traffic-journeys"}


def test_elasticsearch_variables_list_keyword_fields() -> None:
    for variable in dashboard("traffic-elasticsearch.json")["templating"]["list"]:
        find = json.loads(variable["query"])
        fields = mapping(provisioned_index(variable["datasource"]["uid"]))
        assert find["find"] == "terms" and fields[find["field"]] == "keyword"


@pytest.mark.parametrize("target", INFINITY_TARGETS, ids=lambda t: t.panel)
def test_infinity_queries_follow_the_traffic_api(target: Target) -> None:
    """Guards a panel asking the hub for a route, a parameter or a column the traffic
    API does not have."""
    query = target.query
    route = query["url"].removeprefix("/api/traffic/")
    assert route in TRAFFIC_ROUTES
    params = {p["key"]: p["value"] for p in query["url_options"]["params"]}
    assert {"since", "until"} <= set(params) <= TRAFFIC_PARAMS
    assert params["format"] == "json" and query["root_selector"] == "rows"
    assert [c["selector"] for c in query["columns"]] == list(TRAFFIC_ROUTES[route])
    bin_start = next(c for c in query["columns"] if c["selector"] == "bin_start")
    assert bin_start["type"] == "timestamp"


@pytest.mark.parametrize("name", ["traffic.json", "traffic-elasticsearch.json"])
def test_transformations_group_by_columns_the_rows_have(name: str) -> None:
    """Guards a group-by on a column the API never returns (the panel stays empty)."""
    for panel in dashboard(name)["panels"]:
        for query in panel.get("targets", []):
            if query.get("datasource", {}).get("type") != PLUGIN:
                continue
            columns = {c["selector"] for c in query["columns"]}
            for step in panel["transformations"]:
                if step["id"] == "groupBy":
                    assert set(step["options"]["fields"]) <= columns, panel["title"]


@pytest.mark.parametrize("route", sorted(TRAFFIC_ROUTES))
def test_api_columns_are_the_traffic_rows_fields(route: str) -> None:
    """Guards the dashboard's idea of the API drifting from the rows the store holds
    (the API names ``cls`` ``class``, and adds each row's ``status``)."""
    fields = set(ROWS[route].model_fields) | {"status"}
    columns = {"cls" if c == "class" else c for c in TRAFFIC_ROUTES[route]}
    assert columns <= fields, columns - fields
