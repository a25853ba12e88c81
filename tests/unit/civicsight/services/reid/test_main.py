"""The re-ID service's batch step (``Reid.handle``) without a broker, with the real models:
what it publishes and what it dead-letters."""

from __future__ import annotations

from pathlib import Path

from civicsight.bus import Received
from civicsight.events import Appearance
from civicsight.services.reid.embedding import CropEmbedder
from civicsight.services.reid.main import Reid
from civicsight.services.reid.settings import ReidSettings
from tests.unit.civicsight.services.reid.conftest import CAR, car_pixels, crop_event, write_camera


def test_handle_publishes_appearances_of_reid_cameras_and_dead_letters_bad_crops(
    embedder: CropEmbedder, media_mirror: Path, tmp_path: Path
) -> None:
    """Guards the service's wiring: appearances of re-ID cameras published on appearances
    keyed by camera id, crops of other cameras never embedded, an undecodable crop
    dead-lettered with its reason."""
    cameras = tmp_path / "cameras"
    write_camera(cameras, "walkway", reid=True)
    write_camera(cameras, "lobby", reid=False)
    settings = ReidSettings(cameras_dir=cameras, data_dir=tmp_path / "data")
    service = Reid(settings)
    service.cameras = settings.watch("reid")
    service.embedder = embedder
    pixels = car_pixels(media_mirror)
    crops = [
        crop_event("walkway", 1, "car", CAR[1], pixels),
        crop_event("lobby", 2, "car", CAR[1], pixels),  # re-ID off on this camera
        crop_event("walkway", 3, "car", CAR[1], pixels).model_copy(
            update={"jpeg": b"\xff\xd8 not a jpeg"}
        ),
    ]
    batch = [Received("crops", c.camera_id, c, f"msg-{i}") for i, c in enumerate(crops)]  # type: ignore[arg-type]

    out = service.handle(batch)

    assert [(t, k, e.track_id) for t, k, e in out.events if isinstance(e, Appearance)] == [
        ("appearances", "walkway", 1)
    ]
    assert len(out.events) == 1
    assert [(r.message, why) for r, why in out.dead] == [("msg-2", "crop JPEG cannot be decoded")]
