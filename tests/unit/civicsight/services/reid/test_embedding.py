"""Crops -> appearances with the real models on real crops: camera selection, the quality
gate, persons and vehicles embedded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from civicsight.events import Crop
from civicsight.images import decode_jpeg
from civicsight.services.reid.embedding import CropEmbedder
from tests.unit.civicsight.services.reid.conftest import CAR, T0, car_pixels, crop_event
from tests.unit.civicsight.services.reid.walkers import ENTERING, STANDING, crop


def test_crops_become_appearances_for_reid_cameras_only(
    embedder: CropEmbedder, media_mirror: Path
) -> None:
    """Guards the service's contract: reid cameras only, junk skipped, persons and vehicles
    embedded (256-d unit vectors each), events tied to their crop's camera and track."""
    crops: list[Crop] = []
    for walker, ((index, box), _) in STANDING.items():
        for camera in ("walkway", "lobby"):  # lobby has no analytics.reid
            crops.append(crop_event(camera, walker, "person", box, crop(index, box)))
    index, box = ENTERING[0]
    crops.append(crop_event("walkway", 50, "person", box, crop(index, box)))  # blurred close-up
    crops.append(crop_event("walkway", 60, "car", CAR[1], car_pixels(media_mirror)))
    decoded = [(c, decode_jpeg(c.jpeg)) for c in crops]
    assert all(p is not None for _, p in decoded)

    events = embedder.process(decoded, frozenset({"walkway"}))  # type: ignore[arg-type]

    assert {e.camera_id for e in events} == {"walkway"}
    assert sorted(e.track_id for e in events) == [1, 2, 3, 4, 5, 6, 60]
    assert embedder.skipped_low_quality == 1
    for e in events:
        v = np.array(e.embedding)
        assert v.shape == (256,)
        assert float(np.linalg.norm(v)) == pytest.approx(1.0, abs=1e-3)
        assert e.quality >= 0.3
        assert e.captured_at == T0 + e.track_id
    car = next(e for e in events if e.track_id == 60)
    assert car.cls == "car" and car.model.endswith("+trunk+hsv8x4x4")
    persons = [e for e in events if e.cls == "person"]
    assert {e.model for e in persons} == {"reid-person-0277@omz-0277-fp16"}


def test_bicycles_are_not_embedded(embedder: CropEmbedder, media_mirror: Path) -> None:
    pixels = car_pixels(media_mirror)
    crops = [(crop_event("walkway", 1, "bicycle", CAR[1], pixels), pixels)]
    assert embedder.process(crops, frozenset({"walkway"})) == []
