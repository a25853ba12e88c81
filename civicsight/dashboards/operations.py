"""The *Operations* dashboard: is every process up, how much flows through each, how far
behind they are, how long things take, what is dead-lettered, how the join decides. On a
Prometheus data source (the ``datasource`` variable) scraping the hub's targets file.

Every expression names its metric through ``civicsight.metric_names``, so a renamed
metric cannot leave a panel querying nothing; the tests check each one with ``promtool``
and run it against a real Prometheus scraping a real hub.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as pb
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from civicsight.dashboards.panels import heat, series, single
from civicsight.dashboards.sources import PROMETHEUS
from civicsight.metric_names import (
    API_REQUEST_SECONDS,
    BATCH_SIZE,
    CAPTURE_TO_STORE_SECONDS,
    CONSUMER_LAG,
    DEAD_LETTERS,
    EVENTS_IN,
    EVENTS_OUT,
    FRAMES_DROPPED,
    FRAMES_IN,
    HANDLE_SECONDS,
    INFERENCE_SECONDS,
    JOIN_DECISIONS,
    PAUSES,
    STORE_WRITE_SECONDS,
    spec,
)
from civicsight.prometheus import JOB

UID = "civicsight-operations"
SERVICE = 'job="%s", service=~"$service"' % JOB  # noqa: UP031 (PromQL braces)
RATE = "[$__rate_interval]"


def name(key: str) -> str:
    return spec(key).name


def rate(metric: str, by: str) -> str:
    """Per-second rate of a counter (a Prometheus name), summed by ``by``."""
    return f"sum by ({by}) (rate({metric}{{{SERVICE}}}{RATE}))"


def quantile(q: float, key: str, by: str) -> str:
    """The ``q`` quantile of a histogram over the rate window, by ``by``."""
    by_le = f"{by}, le" if by else "le"
    return (
        f"histogram_quantile({q}, sum by ({by_le}) (rate({name(key)}_bucket{{{SERVICE}}}{RATE})))"
    )


def prom(expr: str, legend: str, ref: str) -> pb.Dataquery:
    return pb.Dataquery().expr(expr).legend_format(legend).ref_id(ref).range()


def quantiles(key: str, by: str, legend: str) -> list[pb.Dataquery]:
    return [
        prom(quantile(0.5, key, by), f"{legend} p50", "A"),
        prom(quantile(0.95, key, by), f"{legend} p95", "B"),
    ]


def buckets(key: str) -> pb.Dataquery:
    """A histogram's bucket rates as a heatmap."""
    expr = f"sum by (le) (rate({name(key)}_bucket{{{SERVICE}}}{RATE}))"
    return (
        pb.Dataquery()
        .expr(expr)
        .legend_format("{{le}}")
        .format(PromQueryFormat.HEATMAP)
        .ref_id("A")
        .range()
    )


def operations() -> dm.Dashboard:
    ds = PROMETHEUS
    return (
        db.Dashboard("CivicSight — Operations")
        .uid(UID)
        .description(
            "Every process of the hub: up, throughput, lag, latency, dead letters, join "
            "decisions. Prometheus scraping <data dir>/prometheus-targets.json."
        )
        .tags(["civicsight", "operations"])
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("utc")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .with_variable(
            db.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        )
        .with_variable(
            db.QueryVariable("service")
            .label("Service")
            .datasource(ds)
            .query(f'label_values(up{{job="{JOB}"}}, service)')
            .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .sort(dm.VariableSort.ALPHABETICAL_ASC)
        )
        .with_row(db.Row("Health"))
        .with_panel(
            single(
                "Up",
                ds,
                pb.Dataquery().expr(f"up{{{SERVICE}}}").legend_format("{{service}}").ref_id("A"),
                "bool_yes_no",
                "1 when Prometheus scraped the process's /metrics at its last try.",
                8,
            )
        )
        .with_panel(
            series(
                "CPU",
                ds,
                [prom(rate("process_cpu_seconds_total", "service"), "{{service}}", "A")],
                "percentunit",
                "CPU seconds per second of each process (1 = one core).",
                width=8,
            )
        )
        .with_panel(
            series(
                "Resident memory",
                ds,
                [prom(f"sum by (service) (process_resident_memory_bytes{{{SERVICE}}})",
                      "{{service}}", "A")],
                "bytes",
                "Resident memory of each process.",
                width=8,
            )
        )
        .with_row(db.Row("Throughput"))
        .with_panel(
            series(
                "Events in",
                ds,
                [prom(rate(name(EVENTS_IN), "service"), "{{service}}", "A")],
                "ops",
                "Input messages handled per second.",
            )
        )
        .with_panel(
            series(
                "Events out",
                ds,
                [prom(rate(name(EVENTS_OUT), "service"), "{{service}}", "A")],
                "ops",
                "Events published per second (ingest: frames).",
            )
        )
        .with_panel(
            series(
                "Frames per camera (ingest)",
                ds,
                [
                    prom(rate(name(FRAMES_IN), "camera"), "{{camera}} read", "A"),
                    prom(rate(name(FRAMES_DROPPED), "camera, reason"),
                         "{{camera}} {{reason}}", "B"),
                ],
                "ops",
                "Frames read from each camera's source, and those not sent, with why "
                "(sampling: above the camera's fps; encoding: JPEG failed).",
            )
        )
        .with_panel(
            series(
                "Batch size",
                ds,
                quantiles(BATCH_SIZE, "service", "{{service}}"),
                "short",
                "Messages per input batch.",
            )
        )
        .with_row(db.Row("Lag, backpressure and dead letters"))
        .with_panel(
            series(
                "Consumer lag",
                ds,
                [
                    prom(
                        f"sum by (service, topic) ({name(CONSUMER_LAG)}{{{SERVICE}}})",
                        "{{service}} {{topic}}",
                        "A",
                    )
                ],
                "short",
                "Messages waiting on the broker for each process, per input topic.",
                width=8,
            )
        )
        .with_panel(
            series(
                "Pauses",
                ds,
                [prom(rate(name(PAUSES), "service"), "{{service}}", "A")],
                "ops",
                "Input paused because too many outputs waited for delivery (per second).",
                width=8,
            )
        )
        .with_panel(
            series(
                "Dead letters",
                ds,
                [prom(rate(name(DEAD_LETTERS), "service"), "{{service}}", "A")],
                "ops",
                "Input sent to the dead-letter topic per second (refused or undecodable).",
                width=8,
            )
        )
        .with_row(db.Row("Latency"))
        .with_panel(
            heat(
                "Handle seconds (heatmap)",
                ds,
                buckets(HANDLE_SECONDS),
                "s",
                "Seconds per input batch, all chosen services.",
            )
        )
        .with_panel(
            series(
                "Handle seconds",
                ds,
                quantiles(HANDLE_SECONDS, "service", "{{service}}"),
                "s",
                "Seconds per input batch, p50 and p95.",
            )
        )
        .with_panel(
            series(
                "Inference seconds",
                ds,
                quantiles(INFERENCE_SECONDS, "service", "{{service}}"),
                "s",
                "Model seconds per batch (detect, plates, reid, faces), p50 and p95.",
            )
        )
        .with_panel(
            series(
                "Store write seconds (indexer)",
                ds,
                quantiles(STORE_WRITE_SECONDS, "", "write"),
                "s",
                "Seconds to write one batch to the track store.",
            )
        )
        .with_panel(
            heat(
                "Capture → store (heatmap)",
                ds,
                buckets(CAPTURE_TO_STORE_SECONDS),
                "s",
                "Seconds from a track's last observation to its version in the store.",
            )
        )
        .with_panel(
            series(
                "Capture → store",
                ds,
                quantiles(CAPTURE_TO_STORE_SECONDS, "", "capture to store"),
                "s",
                "End-to-end latency, camera to store, p50 and p95.",
            )
        )
        .with_panel(
            series(
                "API latency by route",
                ds,
                [prom(quantile(0.95, API_REQUEST_SECONDS, "route"), "{{route}} p95", "A")],
                "s",
                "Seconds to answer, p95, by route template.",
            )
        )
        .with_panel(
            series(
                "API requests",
                ds,
                [prom(rate(name(API_REQUEST_SECONDS) + "_count", "status"), "{{status}}", "A")],
                "reqps",
                "Requests per second by status class.",
            )
        )
        .with_row(db.Row("Cross-camera join"))
        .with_panel(
            series(
                "Join decisions",
                ds,
                [prom(rate(name(JOIN_DECISIONS), "decision"), "{{decision}}", "A")],
                "ops",
                "How tracklets were placed per second: new track, linked, displaced; and "
                "operators' merges and splits.",
                width=24,
            )
        )
        .build()
    )  # fmt: skip
