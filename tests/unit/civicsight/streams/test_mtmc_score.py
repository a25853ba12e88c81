"""The scorer agrees with the reference ``score.py`` and with hand-worked cases."""

from __future__ import annotations

import importlib.util
import json

import pytest

from civicsight.streams.mtmc_score import score
from tests.support import mirror

TRUTH = [
    {"camera_id": "a", "local_track_id": "a/1", "identity": 1, "detections": 10},
    {"camera_id": "b", "local_track_id": "b/1", "identity": 1, "detections": 10},
    {"camera_id": "a", "local_track_id": "a/2", "identity": 2, "detections": 20},
]


@pytest.mark.parametrize(
    ("pred", "idf1", "link_precision"),
    [
        ({"a/1": "x", "b/1": "x", "a/2": "y"}, 1.0, 1.0),
        ({"a/1": "x", "b/1": "y", "a/2": "z"}, 0.75, 1.0),
        ({"a/1": "x", "b/1": "x", "a/2": "x"}, 0.5, 0.5),
        ({"a/1": "x", "b/1": "x"}, 0.6667, 1.0),  # a/2 missed
    ],
)
def test_hand_worked(pred: dict[str, str], idf1: float, link_precision: float) -> None:
    s = score(TRUTH, pred)
    assert s["IDF1"] == pytest.approx(idf1, abs=1e-4)
    assert s["link_precision"] == pytest.approx(link_precision)


def test_agrees_with_reference_scorer() -> None:
    """Guards: README numbers computed with another metric than the one the task sets."""
    root = mirror("CIVICSIGHT_MTMC_MIRROR", "mtmc")
    spec = importlib.util.spec_from_file_location("reference_score", root / "score.py")
    assert spec and spec.loader
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    truth = [json.loads(x) for x in (root / "scenarios/small/truth.jsonl").read_text().splitlines()]
    pred = {r["local_track_id"]: f"g{int(r['identity']) // 2}" for r in truth[:-5]}
    rows = [
        {"camera_id": k.split("/")[0], "local_track_id": k, "global_track_id": v}
        for k, v in pred.items()
    ]
    assert score(truth, pred) == ref.score(truth, rows)
