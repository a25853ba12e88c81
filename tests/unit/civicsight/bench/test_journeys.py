"""The journeys benchmark on a tiny world: the JSON the README's figure comes from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from civicsight.bench.journeys import main, world
from civicsight.journeys import Trip, Visit, od_bins
from civicsight.traffic import TrafficQuery


def test_bench_reports_every_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Guards a benchmark JSON missing a query shape or a figure the README quotes."""
    out = tmp_path / "journeys.json"
    main(["--tracks", "300", "--days", "1", "--queries", "2", "--json", "--out", str(out)])
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads(out.read_text())
    assert result["backend"] == "sqlite" and result["tracks"] == 300
    assert set(result["queries"]) == {"bin", "day", "day_one_camera", "all"}
    for shape in result["queries"].values():
        assert set(shape["journeys_ms"]) == set(shape["od_ms"]) == {"p50", "p95"}
    assert result["queries"]["all"]["rows_per_query"] > 0


def test_world_holds_what_the_read_must_skip() -> None:
    """Guards a benchmark world without per-tracklet tracks, revisions or merges (the
    read would be timed on an easier store than a real one)."""
    events = world(400, 1, seed=3)
    joined = [e for e in events if e.track_id.startswith("g-")]
    assert len({e.track_id for e in joined}) == 400
    assert sum(e.merged_into is not None for e in joined) > 0
    assert sum(e.version == 2 for e in joined) > 0
    assert len(events) - len(joined) == sum(
        len(e.tracklets)
        for e in joined
        if e.version == max(x.version for x in joined if x.track_id == e.track_id)
    )
    latest = {e.track_id: e for e in joined}
    trips = [
        Trip(
            t.track_id,
            t.cls,
            tuple(
                Visit(f"{r.camera_id}/{r.track_id}", r.camera_id, r.first_seen, r.last_seen)
                for r in t.tracklets
            ),
        )
        for t in latest.values()
        if t.merged_into is None
    ]
    assert sum(r.count for r in od_bins(trips, TrafficQuery(since=0, until=4e9))) > 300
