"""``civicsight eval reid``: grouping, metrics, and a short real run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from civicsight.services.reid.eval import (
    Sighting,
    group_by_overlap,
    group_one_at_a_time,
    main,
    reid_metrics,
    split_halves,
)

PIXELS = np.zeros((4, 4, 3), np.uint8)


def sighting(frame: int, box: tuple[float, float, float, float], fps: float = 10.0) -> Sighting:
    return Sighting(frame, frame / fps, box, 0.9, "person", PIXELS)


@pytest.mark.parametrize(
    ("frames", "want"),
    [
        ([0, 5, 10], [0, 0, 0]),
        ([0, 5, 40, 45], [0, 0, 1, 1]),  # 3.5 s with no one in view: the next walker
        ([0, 20, 45], [0, 0, 1]),  # 2.0 s is still the same walker, 2.5 s is not
        ([], []),
    ],
)
def test_one_at_a_time_grouping(frames: list[int], want: list[int]) -> None:
    """Guards the walker split that the eval takes as ground truth."""
    box = (0.0, 0.0, 10.0, 20.0)
    assert group_one_at_a_time([sighting(f, box) for f in frames], gap_s=2.0) == want


def test_overlap_grouping_links_moving_boxes_and_splits_far_ones() -> None:
    a = [sighting(i, (10.0 * i, 0, 10.0 * i + 100, 50)) for i in range(4)]  # slides right
    b = [sighting(i, (500.0, 300, 600, 350)) for i in range(4)]  # another car, same frames
    order = [s for pair in zip(a, b, strict=True) for s in pair]
    assert group_by_overlap(order, gap_s=1.0) == [0, 1] * 4
    late = sighting(30, (30.0, 0, 130, 50))  # 2.7 s after the last sighting of car 0
    assert group_by_overlap([*a, late], gap_s=1.0) == [0, 0, 0, 0, 1]


@pytest.mark.parametrize(
    ("groups", "want"),
    [
        ([0, 0, 0, 0], [0, 0, 1, 1]),
        ([0, 0, 0, 1, 1], [0, 0, 1, 2, 3]),  # odd count: the first half takes the middle
        ([0], [0]),
    ],
)
def test_split_halves(groups: list[int], want: list[int]) -> None:
    assert split_halves(groups) == want


def test_metrics_count_a_query_right_only_against_other_tracks() -> None:
    """Guards rank-1 against matching a crop with its own track's near-identical crops,
    and the same/different pair sets."""
    a, a2 = (1.0, 0.0), (0.9, 0.43589)  # walker 0, tracks 0 and 1: alike
    b, c = (0.0, 1.0), (0.95, -0.31225)  # walker 1, tracks 2 and 3: c looks like walker 0
    vectors = np.array([a, a, a2, b, c], np.float32)
    m = reid_metrics(vectors, identities=[0, 0, 0, 1, 1], tracks=[0, 0, 1, 2, 3])
    # a -> c (wrong, twice), a2 -> a (right), b -> a2 (wrong), c -> a (wrong)
    assert (m["rank1"], m["rank1_queries"]) == (0.2, 5)
    same = m["same"]  # (a, a2) twice and (b, c)
    assert isinstance(same, dict) and same["n"] == 3
    assert (same["min"], same["max"]) == pytest.approx((-0.31225, 0.9), abs=1e-4)
    assert same["mean"] == pytest.approx((0.9 + 0.9 - 0.31225) / 3, abs=1e-4)
    different = m["different"]
    assert isinstance(different, dict) and (different["n"], different["max"]) == (6, 0.95)


def test_short_run_on_the_sample_video(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    media_mirror: Path,
    model_mirror: Path,
) -> None:
    """The command end to end on the first two walkers (460 frames, every 5th)."""
    monkeypatch.setenv("CIVICSIGHT_MODEL_MIRROR", str(model_mirror))
    video = media_mirror / "one-by-one-person-detection.mp4"
    assert main([str(video), "--json", "--max-frames", "460", "--stride", "5"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    for key in ("rank1", "same", "different", "ms_per_crop", "crops", "identities", "model"):
        assert key in result
    assert result["identities"] == 2 and result["tracks"] == 4
    assert result["rank1"] == 1.0
    assert result["same"]["mean"] > result["different"]["mean"] + 0.3
    assert result["ms_per_crop"] > 0
    assert "reid eval: embedding" in err  # progress on stderr, not in the JSON


def test_bad_path_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("hello")
    for path, message in ((tmp_path / "nope.mp4", "no such file"), (not_video, "not a video")):
        with pytest.raises(SystemExit) as exit_info:
            main([str(path)])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
