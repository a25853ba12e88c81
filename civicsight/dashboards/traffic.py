"""The *Traffic* dashboards: volumes by class per 15-minute bin, counts per line and
direction, turning movements, speeds (p15, p50, p85), zones, journey times and the
origin-destination table.

Two variants, not one with a data source variable: a panel's queries are written for one
data source plugin (an Elasticsearch query is aggregations over an index; an Infinity
query is a URL and columns), so switching the data source under a panel cannot work.

- ``traffic_api`` (*Traffic*, the default): every panel from the hub's traffic API
  (``GET /api/traffic/...``, a ``traffic_analyst`` token) through the Infinity data
  source. It works with either store, and it shows what the hub discloses: small counts
  suppressed by the API's disclosure control.
- ``traffic_elasticsearch`` (*Traffic (Elasticsearch)*): where Elasticsearch is the
  store, the bins straight from the ``civicsight-traffic-*`` indices (faster over long
  ranges, any aggregation). They are the raw bins, without disclosure control, so this
  variant is for the operator's Grafana only, never a shared or public one. Journeys and
  origin-destination have no index: those two panels read the API here too.
"""

from __future__ import annotations

import json

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import elasticsearch as es
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import elasticsearch as em

from civicsight.dashboards.infinity import ColumnType
from civicsight.dashboards.infinity import Query as InfinityQuery
from civicsight.dashboards.panels import rows, series, transform
from civicsight.dashboards.sources import HUB_API, TRAFFIC_ROUTES, es_ref

API_UID = "civicsight-traffic"
ES_UID = "civicsight-traffic-es"
BIN = "15m"
SINCE = "${__from:date:seconds}"
UNTIL = "${__to:date:seconds}"
"""The dashboard's time range as the traffic API takes it: Unix seconds."""
NUMBERS = {
    "bin_minutes", "count", "entries", "exits", "occupancy_mean", "occupancy_max",
    "dwell_p50_s", "dwell_p90_s", "p15_kmh", "p50_kmh", "p85_kmh", "p50_s", "p85_s",
}  # fmt: skip


# -- the hub's API (Infinity) ------------------------------------------------------------


def api(route: str, *, filtered: bool = True) -> InfinityQuery:
    """``GET /api/traffic/<route>`` for the dashboard's time range (and its camera and
    class boxes: empty means all), every column of the route typed."""
    query = (
        InfinityQuery()
        .ref_id("A")
        .datasource(HUB_API)
        .url(f"/api/traffic/{route}")
        .param("since", SINCE)
        .param("until", UNTIL)
        .param("format", "json")
        .root_selector("rows")
    )
    if filtered:
        query = query.param("camera", "$camera").param("cls", "$cls")
    for column in TRAFFIC_ROUTES[route]:
        kind: ColumnType = "string"
        if column == "bin_start":
            kind = "timestamp"
        elif column in NUMBERS:
            kind = "number"
        query = query.column(column, kind)
    return query


def group_by(keys: list[str], values: dict[str, str]) -> dm.DataTransformerConfig:
    """Grafana's *group by*: rows summed (or averaged...) over ``keys``."""
    fields: dict[str, object] = {k: {"operation": "groupby"} for k in keys}
    fields |= {f: {"operation": "aggregate", "aggregations": [how]} for f, how in values.items()}
    return transform("groupBy", {"fields": fields})


def by_class_matrix() -> list[dm.DataTransformerConfig]:
    """Rows -> one column per class, one row per bin (for a chart of volumes by class)."""
    return [
        group_by(["bin_start", "class"], {"count": "sum"}),
        transform(
            "groupingToMatrix",
            {"columnField": "class", "rowField": "bin_start", "valueField": "count (sum)"},
        ),
        transform(
            "convertFieldType",
            {"conversions": [{"targetField": "bin_start\\class", "destinationType": "time"}]},
        ),
    ]


def journey_panels(filtered: bool, note: str) -> list[cogbuilder.Builder[dm.Panel]]:
    return [
        series(
            "Journey times",
            HUB_API,
            [api("journeys", filtered=filtered)],
            "s",
            "Median and 85th percentile journey time between cameras per 15-minute bin "
            "(mean over the origin-destination pairs shown)." + note,
        ).transformations([group_by(["bin_start"], {"p50_s": "mean", "p85_s": "mean"})]),
        rows(
            "Journeys",
            HUB_API,
            api("journeys", filtered=filtered),
            "Journeys per origin, destination, class and source (tracks or plate "
            "pseudonyms), with their times." + note,
        ),
        rows(
            "Origin-destination",
            HUB_API,
            api("od", filtered=filtered),
            "Tracks by first and last camera, over the time range." + note,
            [group_by(["origin", "destination", "class"], {"count": "sum"})],
            width=24,
        ),
    ]


def text_box(name: str, label: str) -> db.TextBoxVariable:
    return db.TextBoxVariable(name).label(label).description("empty: all")


def traffic_api() -> dm.Dashboard:
    dashboard = (
        db.Dashboard("CivicSight — Traffic")
        .uid(API_UID)
        .description(
            "Traffic analytics from the hub's traffic API (disclosure control applied), "
            "through the Infinity data source."
        )
        .tags(["civicsight", "traffic"])
        .time("now-7d", "now")
        .refresh("5m")
        .timezone("utc")
        .with_variable(text_box("camera", "Camera"))
        .with_variable(text_box("cls", "Class"))
        .with_row(db.Row("Volumes"))
        .with_panel(
            series(
                "Volumes by class",
                HUB_API,
                [api("counts")],
                "short",
                "Line crossings per 15-minute bin by class (every line and direction).",
                bars=True,
                width=24,
            ).transformations(by_class_matrix())
        )
        .with_panel(
            rows(
                "Counts per line and direction",
                HUB_API,
                api("counts"),
                "Crossings per camera, line, direction and class over the time range.",
                [group_by(["camera", "rule", "direction", "class"], {"count": "sum"})],
            )
        )
        .with_panel(
            rows(
                "Turning movements",
                HUB_API,
                api("turning"),
                "Tracklets that crossed the entry leg and then the exit leg, by class.",
                [group_by(["camera", "entry", "exit", "class"], {"count": "sum"})],
            )
        )
        .with_row(db.Row("Speeds and zones"))
        .with_panel(
            series(
                "Speeds",
                HUB_API,
                [api("speeds")],
                "velocitykmh",
                "15th, 50th and 85th percentile speeds per 15-minute bin (mean over the "
                "lines shown: choose a camera for one line's).",
            ).transformations(
                [group_by(["bin_start"], {"p15_kmh": "mean", "p50_kmh": "mean", "p85_kmh": "mean"})]
            )
        )
        .with_panel(
            rows(
                "Zones",
                HUB_API,
                api("zones"),
                "Entries, exits, occupancy and dwell per zone and class over the time range.",
                [
                    group_by(
                        ["camera", "zone", "class"],
                        {"entries": "sum", "exits": "sum", "occupancy_max": "max",
                         "dwell_p50_s": "mean", "dwell_p90_s": "mean"},
                    )
                ],
            )
        )
        .with_row(db.Row("Journeys and origin-destination"))
    )  # fmt: skip
    for panel in journey_panels(True, ""):
        dashboard = dashboard.with_panel(panel)
    return dashboard.build()


# -- Elasticsearch -----------------------------------------------------------------------


def terms(field: str, ident: str) -> es.Terms:
    settings = (
        es.ElasticsearchTermsSettings().size("0").order(em.TermsOrder.DESC).min_doc_count("1")
    )
    return es.Terms().field(field).id(ident).settings(settings)


def bins(ident: str) -> es.DateHistogram:
    settings = es.ElasticsearchDateHistogramSettings().interval(BIN).min_doc_count("0")
    return es.DateHistogram().field("bin_start").id(ident).settings(settings)


def lucene(*fields: str) -> str:
    return " AND ".join(f"{f}:${f}" for f in fields)


def es_query(
    lucene_query: str,
    metrics: list[cogbuilder.Builder[em.MetricAggregation]],
    buckets: list[cogbuilder.Builder[em.BucketAggregation]],
) -> es.Dataquery:
    return (
        es.Dataquery()
        .ref_id("A")
        .query(lucene_query)
        .time_field("bin_start")
        .metrics(metrics)
        .bucket_aggs(buckets)
    )


def es_variable(name: str, label: str, kind: str) -> db.QueryVariable:
    """Values of a keyword field of an index (``*`` for all)."""
    return (
        db.QueryVariable(name)
        .label(label)
        .datasource(es_ref(kind))
        .query(json.dumps({"find": "terms", "field": name}))
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .include_all(True)
        .all_value("*")
        .multi(True)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )


def traffic_elasticsearch() -> dm.Dashboard:
    counts, turns, speeds = es_ref("counts"), es_ref("turns"), es_ref("speeds")
    zones, cameras = es_ref("zones"), es_ref("cameras")
    dashboard = (
        db.Dashboard("CivicSight — Traffic (Elasticsearch)")
        .uid(ES_UID)
        .description(
            "Traffic bins straight from the civicsight-traffic-* indices: raw, WITHOUT the "
            "API's disclosure control (small counts are not suppressed). For the operator's "
            "Grafana only."
        )
        .tags(["civicsight", "traffic", "elasticsearch"])
        .time("now-7d", "now")
        .refresh("5m")
        .timezone("utc")
        .with_variable(es_variable("camera", "Camera", "counts"))
        .with_variable(es_variable("cls", "Class", "counts"))
        .with_variable(es_variable("rule", "Line", "speeds"))
        .with_row(db.Row("Volumes"))
        .with_panel(
            series(
                "Volumes by class",
                counts,
                [es_query(lucene("camera", "cls"), [es.Sum().field("count").id("1")],
                          [terms("cls", "2"), bins("3")])],
                "short",
                "Line crossings per 15-minute bin by class (every line and direction).",
                bars=True,
                width=24,
            )
        )
        .with_panel(
            rows(
                "Counts per line and direction",
                counts,
                es_query(lucene("camera", "cls"), [es.Sum().field("count").id("1")],
                         [terms("camera", "2"), terms("rule", "3"), terms("direction", "4"),
                          terms("cls", "5")]),
                "Crossings per camera, line, direction and class over the time range.",
            )
        )
        .with_panel(
            rows(
                "Turning movements",
                turns,
                es_query(lucene("camera", "cls"), [es.Sum().field("count").id("1")],
                         [terms("camera", "2"), terms("entry", "3"), terms("exit", "4"),
                          terms("cls", "5")]),
                "Tracklets that crossed the entry leg and then the exit leg, by class.",
            )
        )
        .with_row(db.Row("Speeds and zones"))
        .with_panel(
            series(
                "Speeds",
                speeds,
                [es_query(lucene("camera", "rule", "cls"),
                          [es.Average().field("p15_kmh").id("1"),
                           es.Average().field("p50_kmh").id("2"),
                           es.Average().field("p85_kmh").id("3")],
                          [bins("4")])],
                "velocitykmh",
                "15th, 50th and 85th percentile speeds per 15-minute bin: choose one camera, "
                "line and class for that line's own values (several are averaged).",
            )
        )
        .with_panel(
            rows(
                "Zones",
                zones,
                es_query(lucene("camera", "cls"),
                         [es.Sum().field("entries").id("1"), es.Sum().field("exits").id("2"),
                          es.Max().field("occupancy_max").id("3"),
                          es.Average().field("dwell_p50_s").id("4"),
                          es.Average().field("dwell_p90_s").id("5")],
                         [terms("camera", "6"), terms("zone", "7"), terms("cls", "8")]),
                "Entries, exits, occupancy and dwell per zone and class over the time range.",
            )
        )
        .with_panel(
            series(
                "Cameras down",
                cameras,
                [es_query("up:false AND " + lucene("camera"), [es.Count().id("1")],
                          [terms("camera", "2"), bins("3")])],
                "short",
                "15-minute bins in which a camera sent no frames (its counts are unknown).",
                bars=True,
                width=24,
            )
        )
        .with_row(db.Row("Journeys and origin-destination (hub API)"))
    )  # fmt: skip
    note = " From the hub's API (no Elasticsearch index): every camera and class."
    for panel in journey_panels(False, note):
        dashboard = dashboard.with_panel(panel)
    return dashboard.build()
