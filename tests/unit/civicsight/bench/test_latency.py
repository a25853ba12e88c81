"""``civicsight bench latency``: how stored versions are followed back through the stages."""

from __future__ import annotations

import pytest

from civicsight.bench.latency import (
    STAGES,
    Observed,
    median_of_rounds,
    stage_samples,
    summary,
)


def observed() -> Observed:
    seen = Observed()
    seen.frames[("cam", 7)] = (100.0, 100.05)  # captured, published by ingest
    seen.detections[round(100.0 * 1e6)] = ("cam", 7, 100.25)  # published by detect
    return seen


NONE = {"ingest": [], "detect": [], "stream": [], "indexer": [], "total": [], "joined": []}


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        pytest.param(
            [("t-1", 100.0, 100.4, 100.45)],
            NONE
            | {
                "ingest": [0.05],
                "detect": [0.2],
                "stream": [0.15],
                "indexer": [0.05],
                "total": [0.45],
            },
            id="a version is followed through every stage",
        ),
        pytest.param(
            [("t-1", 99.0, 99.4, 99.5)],
            NONE,
            id="versions captured before the warm-up ended are left out",
        ),
        pytest.param(
            [("t-1", 100.5, 100.8, 100.9)],
            NONE | {"indexer": [0.1], "total": [0.4]},
            id="a frame the tap missed still counts in indexer and total",
        ),
        pytest.param(
            [("g-1", 100.0, 107.0, 107.1)],
            NONE | {"joined": [7.1]},
            id="a joined track's version, late by design, is kept apart from the stages",
        ),
    ],
)
def test_stage_samples(
    versions: list[tuple[str, float, float, float]], expected: dict[str, list[float]]
) -> None:
    got = stage_samples(observed(), versions, since=100.0)
    assert {k: [round(v, 6) for v in vs] for k, vs in got.items()} == expected


def test_stages_add_up_to_the_total() -> None:
    got = stage_samples(observed(), [("t-1", 100.0, 100.4, 100.45)], since=0)
    parts = sum(got[s][0] for s in ("ingest", "detect", "stream", "indexer"))
    assert parts == pytest.approx(got["total"][0])


def test_median_of_rounds_sums_samples() -> None:
    one = {s: summary([0.010, 0.010]) for s in STAGES}
    two = {s: summary([0.030] * 3) for s in STAGES}
    three = {s: summary([0.020]) for s in STAGES}
    assert median_of_rounds([one, two, three])["total"] == {
        "p50_ms": 20.0,
        "p95_ms": 20.0,
        "p99_ms": 20.0,
        "n": 6,
    }


def test_a_stage_without_samples_has_no_figures() -> None:
    """Guards NaN in the JSON (not JSON) when a round saw no joined track, say."""
    empty = {s: summary([]) for s in STAGES}
    assert median_of_rounds([empty])["joined"] == {
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "n": 0,
    }


def test_summary_reports_the_named_percentiles() -> None:
    """Guards the bug where p50 / p95 / p99 were taken as fractions (all near the minimum)."""
    got = summary([i / 1000 for i in range(1, 101)])  # 1 .. 100 ms
    assert got["n"] == 100
    assert got["p50_ms"] == pytest.approx(50.5, abs=0.1)
    assert got["p95_ms"] == pytest.approx(95.05, abs=0.1)
    assert got["p99_ms"] == pytest.approx(99.01, abs=0.1)
