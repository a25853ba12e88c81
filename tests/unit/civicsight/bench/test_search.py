"""The search benchmark on a tiny world: the JSON the README table is made from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from civicsight.bench.search import main
from civicsight.bench.search_world import World, misread

KEYS = {
    "index_docs_per_s",
    "plate_exact_p95_ms",
    "plate_partial_p95_ms",
    "plate_fuzzy_p95_ms",
    "knn_p95_ms",
    "knn_recall_at_20",
    "knn_p95_ms_loaded",
    "vector_index_build_s",
    "vector_index_open_s",
    "api_ready_s",
    "backend",
    "tracks",
}


def test_bench_reports_every_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Guards a benchmark JSON missing a figure the README and the issue ask for."""
    out = tmp_path / "search.json"
    main(["--tracks", "600", "--queries", "20", "--batch", "200", "--json", "--out", str(out)])
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= KEYS and result == json.loads(out.read_text())
    assert result["backend"] == "sqlite" and result["tracks"] == 600
    assert result["knn_recall_at_20"] == 1.0  # a world this small is searched exactly


def test_a_second_run_reuses_the_store_and_its_saved_graphs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    model_mirror: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Guards a benchmark that rebuilt the graphs it measures the opening of, and the
    curves and the API start the README shows."""
    monkeypatch.setenv("CIVICSIGHT_MODEL_MIRROR", str(model_mirror))  # for the API
    args = ["--tracks", "600", "--queries", "20", "--batch", "200", "--dir", str(tmp_path)]
    main([*args, "--json"])
    first = json.loads(capsys.readouterr().out)
    main([*args, "--json", "--curve", "--rounds", "2", "--api-start"])
    again = json.loads(capsys.readouterr().out)
    assert not first["reused_store"] and first["vector_index_build_s"] is not None
    assert again["reused_store"] and again["vector_index_build_s"] is None
    assert again["tracks"] == 600 and len(again["knn_rounds"]) == 2
    assert first["api_ready_s"] is None and again["api_ready_s"] > 0
    assert [c["expansion_search"] for c in again["recall_curve"]] == sorted(
        c["expansion_search"] for c in again["recall_curve"]
    )
    assert all(0.9 <= c["recall"] <= 1.0 for c in again["recall_curve"] + again["int8_curve"])


def test_world_shape() -> None:
    """Guards a synthetic world without plates, misreads or multi-camera tracks."""
    events, facts = World(32, seed=1).batch(0, 400)
    kinds = [e.kind for e in events]
    assert kinds.count("track_update") == 400
    assert kinds.count("appearance") == len(facts) > 400  # some tracks span cameras
    plates = [e for e in events if e.kind == "plate_read"]
    assert 0.4 * len(facts) < len(plates) < 0.8 * len(facts)
    truth = {f[0]: f[2] for f in facts}
    wrong = [p for p in plates if p.text != truth[p.tracklet_id]]  # type: ignore[attr-defined]
    assert 0.05 < len(wrong) / len(plates) < 0.25


@pytest.mark.parametrize(("text", "changed"), [("AB123CD", True), ("XYXYXY", False)])
def test_misread_swaps_one_confusable_character(text: str, changed: bool) -> None:
    import random

    got = misread(text, random.Random(0))
    assert (got != text) is changed and len(got) == len(text)
    assert sum(a != b for a, b in zip(got, text, strict=True)) == int(changed)
