"""Frame sampling to the configured rate and the simulated view change."""

from __future__ import annotations

import numpy as np
import pytest

from civicsight.services.ingest.logic import FrameSampler, scale_to_width, transform_view


@pytest.mark.parametrize(
    ("source_fps", "target_fps", "seconds", "expected"),
    [
        (25.0, 5.0, 10.0, 50),
        (12.5, 5.0, 10.0, 50),
        (10.0, 5.0, 10.0, 50),
        (30.0, 1.0, 10.0, 10),
        (5.0, 10.0, 10.0, 50),  # never more frames than the source has
    ],
)
def test_sampler_keeps_the_target_rate(
    source_fps: float, target_fps: float, seconds: float, expected: int
) -> None:
    sampler = FrameSampler(target_fps)
    n = int(source_fps * seconds)
    kept = sum(sampler.take(i / source_fps) for i in range(n))
    assert abs(kept - expected) <= 1


def test_sampler_does_not_burst_after_a_gap() -> None:
    """Guards against a stream that stalls for 10 s then sending 50 frames at once."""
    sampler = FrameSampler(5.0)
    assert sampler.take(0.0)
    assert sampler.take(10.0)
    assert not sampler.take(10.01)
    assert sampler.take(10.2)


def test_sampler_rejects_zero_fps() -> None:
    with pytest.raises(ValueError):
        FrameSampler(0)


@pytest.mark.parametrize(
    ("size", "max_width", "expected"),
    [((1920, 1080), 1280, (1280, 720)), ((768, 432), 1280, (768, 432))],
)
def test_scale_to_width(size: tuple[int, int], max_width: int, expected: tuple[int, int]) -> None:
    assert scale_to_width(*size, max_width) == expected


@pytest.mark.parametrize("transform", [None, "mirror", "mirror-shift", "mirror-crop-shift"])
def test_transform_view(transform: str | None) -> None:
    """Guards the simulated second camera: mirrored (left edge ends up right), cropped
    (the outer 10 % border is gone) and colour-shifted, at the original size."""
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, :3] = 200  # a bright stripe inside the left 10 %
    image[:, 6:9] = 100  # a grey stripe just inside the crop
    out = transform_view(image, transform)
    assert out.shape == image.shape
    if transform is None:
        assert out is image
        return
    right = out[20, -2:, 0].astype(int)
    if transform == "mirror-crop-shift":
        assert right.max() < 130 and out[20, -6:, 0].max() >= 100  # stripe cropped away
    else:
        assert right.min() >= 200  # mirrored
    shifted = transform.endswith("-shift")
    assert (int(out[0, 20, 2]) == 18) is shifted  # red channel raised on black
