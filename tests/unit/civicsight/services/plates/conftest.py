"""Fixtures for the plates tests: the real plate reader, labelled plate photos and vehicle
crops made of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from civicsight.events import Box, Crop, ObjectClass
from civicsight.services.plates.pipeline import PlateReader
from civicsight.services.plates.settings import PlatesSettings, build_reader


@pytest.fixture(scope="session")
def reader(model_mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlateReader]:
    settings = PlatesSettings(
        model_mirror=model_mirror,
        data_dir=tmp_path_factory.mktemp("plates-data"),
        plate_regions="europe",
    )
    plate_reader = build_reader(settings)
    yield plate_reader
    plate_reader.close()


def photo(media: Path, name: str) -> tuple[np.ndarray, tuple[float, float, float, float], str]:
    """A labelled plate photo: the image, the plate box (xyxy) and the plate text."""
    folder = "alpr_eu" if (media / "alpr_eu" / f"{name}.jpg").exists() else "alpr_us"
    image = cv2.imread(str(media / folder / f"{name}.jpg"))
    assert image is not None, name
    parts = (media / folder / f"{name}.txt").read_text().split()
    x, y, w, h = (float(v) for v in parts[1:5])
    return image, (x, y, x + w, y + h), parts[5]


def crop_of(
    media: Path, name: str, camera: str, track: int, t: float, cls: ObjectClass = "car"
) -> Crop:
    """A crop as the detect service sends it: the whole labelled photo."""
    image, _, _ = photo(media, name)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    h, w = image.shape[:2]
    box = Box(x1=0, y1=0, x2=w, y2=h, cls=cls, conf=0.9, track_id=track)
    return Crop(
        camera_id=camera, track_id=track, captured_at=t, box=box, quality=0.8, jpeg=jpeg.tobytes()
    )
