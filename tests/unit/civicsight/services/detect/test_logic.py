"""Crop quality and choosing about one best crop a second per track."""

from __future__ import annotations

import numpy as np
import pytest

from civicsight.services.detect.logic import CropSelector, crop_quality, run_base

IMAGE = np.zeros((360, 640, 3), np.uint8)


@pytest.mark.parametrize(
    ("box", "conf", "better_than"),
    [
        ((100, 100, 228, 228), 0.9, ((100, 100, 132, 132), 0.9)),  # larger beats smaller
        ((100, 100, 228, 228), 0.9, ((100, 100, 228, 228), 0.5)),  # confident beats unsure
        ((100, 100, 228, 228), 0.9, ((0, 100, 128, 228), 0.9)),  # whole beats cut by border
    ],
)
def test_crop_quality_orders_views(
    box: tuple[float, float, float, float],
    conf: float,
    better_than: tuple[tuple[float, float, float, float], float],
) -> None:
    assert crop_quality(box, conf, 640, 360) > crop_quality(
        better_than[0], better_than[1], 640, 360
    )


def test_one_crop_per_interval_and_it_is_the_best() -> None:
    """Guards against sending a crop per frame (floods the crops topic)."""
    sel = CropSelector(interval=1.0)
    out = []
    for i in range(25):  # 5 s at 5 fps, box grows then shrinks; best at i = 2 in each second
        t = i * 0.2
        size = 40 + 20 * (2 - abs(i % 5 - 2))
        out += sel.offer("cam", 1, t, IMAGE, (100, 100, 100 + size, 100 + size), 0.9, "car")
    assert len(out) == 4  # the fifth second is still open
    assert all(c.pixels.shape[0] == 80 for c in out)
    assert [round(c.captured_at, 1) for c in out] == [0.4, 1.4, 2.4, 3.4]


def test_flush_releases_tracks_that_left() -> None:
    sel = CropSelector(interval=1.0)
    sel.offer("cam", 1, 0.0, IMAGE, (10, 10, 60, 60), 0.8, "person")
    sel.offer("other", 2, 0.0, IMAGE, (10, 10, 60, 60), 0.8, "person")
    assert sel.flush("cam", 0.5) == []
    (crop,) = sel.flush("cam", 1.2)
    assert (crop.camera_id, crop.track_id, crop.cls) == ("cam", 1, "person")
    assert sel.flush("cam", 5.0) == []


def test_run_base_makes_ids_unique_across_restarts_and_exact_in_browsers() -> None:
    a, b = run_base(1_790_000_000.0), run_base(1_790_000_000.2)
    assert b - a >= 10_000  # room for 10,000 tracker ids per run
    assert run_base(2_500_000_000.0) < 2**53


@pytest.mark.parametrize(
    ("device", "weights", "cuda", "expected"),
    [
        ("cpu", True, True, "openvino"),
        ("auto", True, True, "torch"),
        ("auto", False, True, "openvino"),  # no .pt weights: CPU, with a warning
        ("auto", True, False, "openvino"),
        ("cuda", True, True, "torch"),
        ("cuda:1", True, True, "torch"),
        ("cuda", True, False, "no CUDA device"),
        ("cuda", False, True, "needs torch weights"),
    ],
)
def test_backend_choice(device: str, weights: bool, cuda: bool, expected: str) -> None:
    """Guards against a CUDA machine silently detecting on the CPU when CUDA was asked for,
    and against `auto` failing on a CPU-only machine."""
    from civicsight.services.detect.logic import choose_backend

    if expected in ("openvino", "torch"):
        assert choose_backend(device, weights, cuda) == expected
    else:
        with pytest.raises(ValueError, match=expected):
            choose_backend(device, weights, cuda)
