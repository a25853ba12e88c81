"""The plates service's batch step (``Plates.handle``) without a broker, with the real plate
models: what it publishes and what it dead-letters."""

from __future__ import annotations

from pathlib import Path

from civicsight.bus import Received
from civicsight.events import PlateRead, PlateSighting
from civicsight.services.plates.main import Plates
from civicsight.services.plates.pipeline import PlateReader
from civicsight.services.plates.reading import TrackletReader
from civicsight.services.plates.settings import PlatesSettings
from civicsight.services.plates.voting import TrackletVotes
from tests.unit.civicsight.services.plates.conftest import crop_of


def test_handle_publishes_reads_of_plate_cameras_and_dead_letters_bad_crops(
    reader: PlateReader, media_mirror: Path, tmp_path: Path
) -> None:
    """Guards the service's wiring: reads of plate cameras published on plate_reads keyed
    by camera id and as a pseudonymous sighting on plate_sightings keyed by the pseudonym,
    other cameras and non-vehicles never read, an undecodable crop dead-lettered with its
    reason (not dropped, not crashing the batch)."""
    cameras = tmp_path / "cameras"
    cameras.mkdir()
    (cameras / "gate.yaml").write_text(
        "id: gate\nname: Gate\nsource: rtsp://cam/1\nanalytics: {plates: true}\n"
    )
    (cameras / "plaza.yaml").write_text("id: plaza\nname: Plaza\nsource: rtsp://cam/2\n")
    settings = PlatesSettings(cameras_dir=cameras, data_dir=tmp_path / "data")
    service = Plates(settings)
    service.cameras = settings.watch("plates")
    service.reading = TrackletReader(reader, TrackletVotes(min_gain=0.05), min_conf=0.3)
    crops = [
        crop_of(media_mirror, "test_002", "gate", 1, 1.0),
        crop_of(media_mirror, "eu2", "gate", 3, 1.0, cls="person"),  # not a vehicle
        crop_of(media_mirror, "test_013", "plaza", 1, 1.0),  # plates off on this camera
        crop_of(media_mirror, "eu10", "gate", 5, 1.0).model_copy(
            update={"jpeg": b"\xff\xd8 not a jpeg"}
        ),
    ]
    batch = [Received("crops", c.camera_id, c, f"msg-{i}") for i, c in enumerate(crops)]  # type: ignore[arg-type]

    out = service.handle(batch)

    assert [(t, k, e.text) for t, k, e in out.events if isinstance(e, PlateRead)] == [
        ("plate_reads", "gate", "RK755AJ")
    ]
    sightings = [(t, k, e) for t, k, e in out.events if isinstance(e, PlateSighting)]
    # captured at 00:00:01 UTC: in the overlap hour, so under today's and yesterday's key
    assert [(t, k == e.pseudonym, e.camera_id, e.cls, str(e.key_day)) for t, k, e in sightings] == [
        ("plate_sightings", True, "gate", "car", "1970-01-01"),
        ("plate_sightings", True, "gate", "car", "1969-12-31"),
    ]
    assert len(out.events) == 3
    assert [(r.message, why) for r, why in out.dead] == [("msg-3", "crop JPEG cannot be decoded")]
