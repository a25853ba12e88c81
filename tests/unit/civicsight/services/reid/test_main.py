"""The re-ID service without the bus: settings, camera selection, and crops -> events with
the real models on real crops."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from civicsight.events import Box, Crop, ObjectClass
from civicsight.images import decode_jpeg
from civicsight.models.runtimes.torchreid_osnet import WeightsError
from civicsight.services.reid.main import (
    ReidService,
    ReidSettings,
    build_person_embedder,
    build_vehicle_model,
)
from tests.unit.civicsight.services.reid.walkers import ENTERING, STANDING, crop

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
def service(model_mirror: Path) -> Iterator[ReidService]:
    settings = ReidSettings(model_mirror=model_mirror)
    persons, person_label = build_person_embedder(settings)
    vehicles, vehicle_label = build_vehicle_model(settings)
    yield ReidService(persons, person_label, vehicles, vehicle_label, settings.reid_min_quality)
    persons.close()
    vehicles.close()


def test_crops_become_appearances_for_reid_cameras_only(
    service: ReidService, media_mirror: Path
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

    events = service.process(decoded, frozenset({"walkway"}))  # type: ignore[arg-type]

    assert {e.camera_id for e in events} == {"walkway"}
    assert sorted(e.track_id for e in events) == [1, 2, 3, 4, 5, 6, 60]
    assert service.skipped_low_quality == 1
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


def test_bicycles_are_not_embedded(service: ReidService, media_mirror: Path) -> None:
    pixels = car_pixels(media_mirror)
    crops = [(crop_event("walkway", 1, "bicycle", CAR[1], pixels), pixels)]
    assert service.process(crops, frozenset({"walkway"})) == []


def write_camera(folder: Path, cam_id: str, reid: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{cam_id}.yaml").write_text(
        f"id: {cam_id}\nname: {cam_id}\nsource: media:x.mp4\n"
        f"analytics: {{detect: true, reid: {str(reid).lower()}}}\n"
    )


@pytest.mark.parametrize(
    ("env", "field", "want"),
    [
        ({}, "reid_model", "reid-person-0277"),
        ({"CIVICSIGHT_REID_MODEL": "reid-person-0288"}, "reid_model", "reid-person-0288"),
        ({"CIVICSIGHT_MODEL": "yolov8n-int8-openvino"}, "reid_model", "reid-person-0277"),
        ({"CIVICSIGHT_REID_MIN_QUALITY": "0.5"}, "reid_min_quality", 0.5),
        ({"CIVICSIGHT_REID_BACKEND": "torchreid"}, "reid_backend", "torchreid"),
    ],
    ids=["default", "choice", "detect-model-not-taken", "min-quality", "backend"],
)
def test_settings_from_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], field: str, want: object
) -> None:
    """Guards the shared CIVICSIGHT_ prefix: detect's CIVICSIGHT_MODEL must not pick the
    re-ID model."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert getattr(ReidSettings(), field) == want


def test_unknown_model_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVICSIGHT_REID_MODEL", "reid-person-9999")
    with pytest.raises(ValidationError, match="reid_model"):
        ReidSettings()


def test_torchreid_backend_needs_weights_or_the_explicit_flag() -> None:
    """Guards against the service silently embedding with an untrained network."""
    settings = ReidSettings(reid_backend="torchreid")
    with pytest.raises(WeightsError, match="CIVICSIGHT_REID_TORCHREID_WEIGHTS"):
        build_person_embedder(settings)
