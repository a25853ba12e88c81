"""The metric catalogue: Prometheus naming, bounded labels, no identifying label."""

from __future__ import annotations

import pytest

from civicsight.metric_names import (
    CATALOGUE,
    FORBIDDEN_LABELS,
    FRAMES_DROPPED,
    JOIN_DECISIONS,
    check_labels,
    spec,
    status_class,
)

ALLOWED_LABELS = {"camera", "topic", "reason", "decision", "route", "method", "status"}
"""Each has few values (camera: one per camera, the only high-cardinality label)."""


@pytest.mark.parametrize("metric", CATALOGUE, ids=lambda m: m.name)
def test_every_metric_follows_prometheus_naming(metric: object) -> None:
    """Guards a metric named against Prometheus' conventions (a counter without _total,
    a latency in milliseconds, no civicsight_ prefix): dashboards and alerts written
    elsewhere assume them."""
    from civicsight.metric_names import MetricSpec

    assert isinstance(metric, MetricSpec)
    assert metric.name.startswith("civicsight_") and metric.name == metric.name.lower()
    assert metric.name.endswith("_total") == (metric.kind == "counter")
    if "seconds" in metric.key:
        assert metric.kind == "histogram" and metric.name.endswith("_seconds")
    if metric.kind == "histogram":
        assert metric.buckets == tuple(sorted(metric.buckets)) and len(metric.buckets) >= 5
    assert "service" not in metric.labels  # Prometheus adds it from the targets file
    assert metric.help and metric.reporters


@pytest.mark.parametrize("metric", CATALOGUE, ids=lambda m: m.name)
def test_no_metric_has_an_identifying_label(metric: object) -> None:
    """Guards privacy: a label naming a track, a plate or a person would put identifiers
    into every scrape and every dashboard."""
    from civicsight.metric_names import MetricSpec

    assert isinstance(metric, MetricSpec)
    assert not set(metric.labels) & FORBIDDEN_LABELS
    assert set(metric.labels) <= ALLOWED_LABELS


def test_names_and_keys_are_unique() -> None:
    assert len({m.key for m in CATALOGUE}) == len({m.name for m in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize(
    ("key", "labels", "error"),
    [
        (FRAMES_DROPPED, {"camera": "c1", "reason": "sampling"}, None),
        (FRAMES_DROPPED, {"camera": "c1"}, "takes labels"),
        (FRAMES_DROPPED, {"camera": "c1", "reason": "x", "track_id": "7"}, "takes labels"),
        (JOIN_DECISIONS, {"decision": "linked", "plate": "AB123"}, "takes labels"),
        ("frames_in_by_track", {}, "no metric"),
    ],
)
def test_labels_must_be_exactly_the_declared_ones(
    key: str, labels: dict[str, str], error: str | None
) -> None:
    """Guards a service slipping a track id or a plate in as a label, and a typo'd name
    reported into nothing."""
    if error is None:
        assert check_labels(key, labels) is spec(key)
    else:
        with pytest.raises(ValueError, match=error):
            check_labels(key, labels)


@pytest.mark.parametrize(
    ("status", "label"), [(200, "2xx"), (204, "2xx"), (404, "4xx"), (503, "5xx")]
)
def test_status_is_a_class(status: int, label: str) -> None:
    assert status_class(status) == label


@pytest.mark.parametrize("metric", CATALOGUE, ids=lambda m: m.name)
def test_readme_lists_every_metric_as_it_is(metric: object) -> None:
    """Guards README's metric table drifting from what the processes export (a renamed
    metric, a label added)."""
    from pathlib import Path

    from civicsight.metric_names import MetricSpec

    assert isinstance(metric, MetricSpec)
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    labels = ", ".join(f"`{label}`" for label in metric.labels) or "—"
    assert f"| `{metric.name}` | {metric.kind} | {labels} | {metric.reporters} |" in readme
