"""Reading vehicle crops and voting per tracklet, with the real plate models: which crops
are read, and which reads become events."""

from __future__ import annotations

from pathlib import Path

import pytest

from civicsight.events import ObjectClass
from civicsight.images import decode_jpeg
from civicsight.services.plates.pipeline import PlateReader
from civicsight.services.plates.reading import TrackletReader, wanted
from civicsight.services.plates.voting import TrackletVotes
from tests.unit.civicsight.services.plates.conftest import crop_of


@pytest.mark.parametrize(
    ("cls", "camera", "ok"),
    [
        ("car", "gate", True),
        ("truck", "gate", True),
        ("bus", "gate", True),
        ("motorcycle", "gate", True),
        ("person", "gate", False),
        ("bicycle", "gate", False),
        ("car", "plaza", False),
    ],
)
def test_only_vehicles_of_plate_cameras_are_read(
    media_mirror: Path, cls: ObjectClass, camera: str, ok: bool
) -> None:
    """Guards against reading plates where the camera file does not allow it, or
    running the plate models on people."""
    crop = crop_of(media_mirror, "eu2", camera, 1, 1.0, cls)
    assert wanted(crop, frozenset({"gate"})) is ok


def test_service_reads_votes_and_publishes_changes(reader: PlateReader, media_mirror: Path) -> None:
    """Guards against losing reads between crops of one track, mixing tracks, or
    publishing an event for every crop."""
    service = TrackletReader(reader, TrackletVotes(min_gain=0.05), min_conf=0.3)
    first = [
        crop_of(media_mirror, "test_002", "gate", 1, 10.0),
        crop_of(media_mirror, "eu10", "gate", 2, 10.0),
        crop_of(media_mirror, "test_013", "lane", 1, 10.0),
    ]
    decoded = [(c, decode_jpeg(c.jpeg)) for c in first]
    events = service.process([(c, im) for c, im in decoded if im is not None])
    assert {(e.camera_id, e.track_id, e.text) for e in events} == {
        ("gate", 1, "RK755AJ"),
        ("gate", 2, "WA56660"),
        ("lane", 1, "RK857AI"),
    }
    again = [
        crop_of(media_mirror, "test_002", "gate", 1, 11.0),  # read at 0.99 before: no news
        crop_of(media_mirror, "test_013", "lane", 1, 11.0),  # read at ~0.75: firmer now
    ]
    more = service.process([(c, im) for c in again if (im := decode_jpeg(c.jpeg)) is not None])
    assert [(e.camera_id, e.track_id, e.text) for e in more] == [("lane", 1, "RK857AI")]
    before = next(e.conf for e in events if e.camera_id == "lane")
    assert more[0].conf >= before + 0.05
    assert more[0].captured_at == 11.0
