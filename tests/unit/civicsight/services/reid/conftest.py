"""Fixtures for the re-ID tests: the real appearance models, and crops made of real
pictures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from civicsight.events import Box, Crop, ObjectClass
from civicsight.models.appearance import build_person_embedder, build_vehicle_model
from civicsight.services.reid.embedding import CropEmbedder
from civicsight.services.reid.settings import ReidSettings

T0 = 1_700_000_000.0
CAR = ("alpr_eu/eu8.jpg", (28, 43, 952, 655))  # red saloon, box from the hub's detector


def car_pixels(media_mirror: Path) -> np.ndarray:
    photo = cv2.imread(str(media_mirror / CAR[0]))
    assert photo is not None
    x1, y1, x2, y2 = CAR[1]
    return photo[y1:y2, x1:x2]


def jpeg(pixels: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buf.tobytes()


def crop_event(
    camera: str, track: int, cls: ObjectClass, box: tuple[int, int, int, int], pixels: np.ndarray
) -> Crop:
    x1, y1, x2, y2 = box
    return Crop(
        camera_id=camera,
        track_id=track,
        captured_at=T0 + track,
        box=Box(x1=x1, y1=y1, x2=x2, y2=y2, cls=cls, conf=0.9),
        quality=0.9,
        jpeg=jpeg(pixels),
    )


@pytest.fixture(scope="module")
def embedder(model_mirror: Path) -> Iterator[CropEmbedder]:
    settings = ReidSettings(model_mirror=model_mirror)
    persons, person_label = build_person_embedder(settings)
    vehicles, vehicle_label = build_vehicle_model(settings)
    yield CropEmbedder(persons, person_label, vehicles, vehicle_label, settings.reid_min_quality)
    persons.close()
    vehicles.close()


def write_camera(folder: Path, cam_id: str, reid: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{cam_id}.yaml").write_text(
        f"id: {cam_id}\nname: {cam_id}\nsource: media:x.mp4\n"
        f"analytics: {{detect: true, reid: {str(reid).lower()}}}\n"
    )
