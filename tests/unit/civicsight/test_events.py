"""The event contract: round-trips, versions, and fields that must be refused."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from civicsight.events import (
    EVENT_TYPES,
    Box,
    DecodeError,
    Frame,
    FrameDetections,
    TrackletRef,
    TrackUpdate,
)

JPEG = b"\xff\xd8\xff\xe0fakejpeg\xff\xd9"


def frame(**over: object) -> Frame:
    data: dict[str, object] = dict(
        camera_id="cam-1", seq=3, captured_at=1_790_000_000.5, width=640, height=360, jpeg=JPEG
    )
    data.update(over)
    return Frame.model_validate(data)


def update(**over: object) -> TrackUpdate:
    data: dict[str, object] = dict(
        track_id="t-1",
        version=1,
        cls="car",
        tracklets=[TrackletRef(camera_id="cam-1", track_id=7, first_seen=10.0, last_seen=12.0)],
        first_seen=10.0,
        last_seen=12.0,
        emitted_at=13.0,
    )
    data.update(over)
    return TrackUpdate.model_validate(data)


SAMPLES = [
    frame(),
    FrameDetections(
        camera_id="cam-1",
        seq=3,
        captured_at=1.0,
        width=640,
        height=360,
        model="m@1",
        detected_at=2.0,
        boxes=(Box(x1=1, y1=2, x2=30, y2=40, cls="person", conf=0.9, track_id=4),),
    ),
    update(best_crop_jpeg=JPEG, path=((0.1, 0.2), (0.3, 0.4))),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip_keeps_every_field(event: object) -> None:
    """Guards against a codec that loses bytes (JPEG) or nested values on the wire."""
    cls = type(event)
    assert cls.from_bytes(event.to_bytes()) == event  # type: ignore[attr-defined]


@pytest.mark.parametrize("field", ["race", "ethnicity", "skin_colour", "skin_color", "gender"])
@pytest.mark.parametrize("make", [frame, update])
def test_sensitive_attribute_cannot_be_represented(make: object, field: str) -> None:
    """Privacy: an attribute such as race is an unknown field, so it is refused."""
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        make(**{field: "x"})  # type: ignore[operator]


@pytest.mark.parametrize("field", ["race", "ethnicity"])
def test_decoder_refuses_sensitive_fields_from_the_wire(field: str) -> None:
    """A producer outside the hub cannot smuggle a sensitive field through the bus."""
    raw = frame().model_dump(mode="json")
    raw[field] = "x"
    import json

    with pytest.raises(DecodeError):
        Frame.from_bytes(json.dumps(raw).encode())


@pytest.mark.parametrize(
    "bad",
    [
        {"camera_id": "Cam 1"},  # not a slug
        {"seq": -1},
        {"width": 0},
        {"jpeg": b""},
        {"schema_version": 2},  # a future version is not silently read as v1
    ],
    ids=lambda d: next(iter(d)),
)
def test_frame_rejects_invalid_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        frame(**bad)


def test_events_are_frozen() -> None:
    """Guards against a consumer mutating an event another handler still reads."""
    f = frame()
    with pytest.raises(ValidationError):
        f.seq = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    "box",
    [
        dict(x1=10, y1=0, x2=5, y2=5),
        dict(x1=0, y1=0, x2=5, y2=5, conf=1.5),
        dict(x1=0, y1=0, x2=5, y2=5, cls="dog"),
    ],
)
def test_box_rejects_bad_geometry_and_classes(box: dict[str, object]) -> None:
    data: dict[str, object] = {"cls": "car", "conf": 0.5, **box}
    with pytest.raises(ValidationError):
        Box.model_validate(data)


def test_track_update_needs_ordered_times() -> None:
    with pytest.raises(ValidationError, match="last_seen before first_seen"):
        update(first_seen=20.0, last_seen=10.0)


def test_detections_from_arrays_clips_to_frame() -> None:
    """Detector boxes slightly outside the frame are clipped, not refused."""
    fd = FrameDetections.from_arrays(
        frame(), [[-3.0, 5.0, 700.0, 380.0]], [0.7], ["car"], [5], "m@1", 2.0
    )
    (box,) = fd.boxes
    assert (box.x1, box.x2, box.y2) == (0.0, 640.0, 360.0)
    assert box.track_id == 5 and fd.seq == 3


def test_every_event_type_is_versioned() -> None:
    for cls in EVENT_TYPES:
        assert cls.model_fields["schema_version"].default == 1
        assert cls.model_config.get("extra") == "forbid"


@pytest.mark.parametrize(
    ("cls", "colour", "ok"),
    [
        ("car", "red", True),
        ("truck", None, True),
        ("person", None, True),
        ("person", "red", False),
        ("bicycle", "blue", False),
    ],
)
def test_colour_and_type_describe_vehicles_never_people(
    cls: str, colour: str | None, ok: bool
) -> None:
    """Privacy: a colour attached to a person could stand for clothing or skin; refused."""
    from civicsight.events import Appearance

    data = dict(
        camera_id="cam-1",
        track_id=1,
        captured_at=1.0,
        cls=cls,
        quality=0.9,
        model="m@1",
        embedding=(0.1,) * 8,
        colour=colour,
    )
    if ok:
        assert Appearance.model_validate(data).colour == colour
    else:
        with pytest.raises(ValidationError, match="never people"):
            Appearance.model_validate(data)


def test_crop_knows_its_frame_size() -> None:
    from civicsight.events import Crop

    box = Box(x1=1, y1=2, x2=30, y2=40, cls="person", conf=0.9, track_id=4)
    crop = Crop(
        camera_id="cam-1",
        track_id=4,
        captured_at=1.0,
        box=box,
        quality=0.5,
        jpeg=JPEG,
        frame_width=640,
        frame_height=360,
    )
    assert crop.frame_size == (640, 360)
    assert crop.model_copy(update={"frame_width": None}).frame_size is None


def _samples() -> dict[type, dict[str, object]]:
    """One valid payload (JSON form) per event type."""
    from civicsight.events import (
        Appearance,
        Crop,
        FaceObservation,
        Heartbeat,
        PlateRead,
        PlateSighting,
        RuleHit,
        TrackCorrection,
        TrafficBins,
    )
    from civicsight.traffic import CameraBin, CountBin

    box = Box(x1=1, y1=2, x2=30, y2=40, cls="person", conf=0.9, track_id=4)
    track = {"camera_id": "cam-1", "track_id": 4, "captured_at": 1.0}
    events = [
        frame(),
        SAMPLES[1],
        update(best_crop_jpeg=JPEG),
        Crop(**track, box=box, quality=0.5, jpeg=JPEG),  # type: ignore[arg-type]
        Appearance(**track, cls="car", quality=0.8, model="m@1", embedding=(0.1,) * 8),  # type: ignore[arg-type]
        PlateRead(**track, text="AB123", conf=0.9),  # type: ignore[arg-type]
        PlateSighting(
            camera_id="cam-1",
            captured_at=1.0,
            cls="car",
            pseudonym="0123456789abcdef",
            key_day=date(1970, 1, 1),
        ),
        FaceObservation(**track, watchlist_id="w", entry_id="e", score=0.5, threshold=0.5),  # type: ignore[arg-type]
        TrackCorrection(
            action="merge",
            track_id="g-1",
            other_track_id="g-2",
            user="ines",
            reason="same van",
            decided_at=5.0,
        ),
        RuleHit(
            **track,  # type: ignore[arg-type]
            rule_id="gate",
            rule_kind="line",
            action="cross",
            direction="in",
            cls="person",
            seq=1,
        ),
        Heartbeat(
            service="detect",
            instance="host:1",
            at=2.0,
            started_at=1.0,
            processed=5,
            lag={"frames": 3},
            interval_s=5.0,
        ),
        TrafficBins.of(
            "cam-1",
            [
                CameraBin(bin_start=900.0, camera="cam-1", up=True),
                CountBin(
                    bin_start=900.0, camera="cam-1", rule="gate", direction="in", cls="car", count=3
                ),
            ],
            1000.0,
        ),
    ]
    return {type(e): e.model_dump(mode="json") for e in events}


def test_every_event_type_has_a_race_field_sample() -> None:
    """Guards against a new event type escaping the race-field tests below."""
    assert set(_samples()) == set(EVENT_TYPES)


@pytest.mark.parametrize("field", ["race", "ethnicity", "skin_colour", "skin_tone"])
@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.__name__)
def test_a_race_field_is_refused_by_every_event_type(cls: type, field: str) -> None:
    """Privacy: no event type can carry race or ethnicity, whether built in the hub
    (ValidationError) or received from the wire (DecodeError, so it is dead-lettered);
    also not nested inside a box or tracklet."""
    import json

    raw = dict(_samples()[cls])
    assert cls.from_bytes(json.dumps(raw).encode()) is not None  # the sample itself is valid
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        cls.model_validate({**raw, field: "x"})
    with pytest.raises(DecodeError):
        cls.from_bytes(json.dumps({**raw, field: "x"}).encode())
    key = next((k for k in ("box", "boxes", "tracklets") if k in raw), None)
    inner_ok = key is not None and (
        isinstance(raw[key], dict) or (raw[key] and isinstance(raw[key][0], dict))  # type: ignore[index]
    )
    if key is not None and inner_ok:
        inner = raw[key]
        nested = inner if isinstance(inner, dict) else inner[0]  # type: ignore[index]
        bad = {**nested, field: "x"}
        doc = {**raw, key: bad if key == "box" else [bad]}
        with pytest.raises(DecodeError):
            cls.from_bytes(json.dumps(doc).encode())


HIT = {"camera_id": "cam-1", "track_id": 4, "captured_at": 1.0, "cls": "car", "seq": 2}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"rule_kind": "line", "action": "cross", "direction": "in"}, None),
        ({"rule_kind": "zone", "action": "enter"}, None),
        ({"rule_kind": "zone", "action": "leave", "dwell_s": 3.5}, None),
        ({"rule_kind": "zone", "action": "leave", "dwell_s": 0.0, "ended": True}, None),
        ({"rule_kind": "line", "action": "enter"}, "lines are crossed"),
        ({"rule_kind": "zone", "action": "cross", "direction": "in"}, "lines are crossed"),
        ({"rule_kind": "line", "action": "cross"}, "names its direction"),
        ({"rule_kind": "zone", "action": "enter", "direction": "in"}, "names its direction"),
        ({"rule_kind": "zone", "action": "leave"}, "carries dwell_s"),
        ({"rule_kind": "zone", "action": "enter", "dwell_s": 1.0}, "carries dwell_s"),
        ({"rule_kind": "zone", "action": "enter", "ended": True}, "tracklet ended"),
        ({"rule_kind": "zone", "action": "leave", "dwell_s": -1.0}, "greater than or equal"),
        ({"rule_kind": "line", "action": "cross", "direction": "In Bound"}, "pattern"),
    ],
)
def test_rule_hit_shape(fields: dict[str, object], problem: str | None) -> None:
    """Guards against a hit a traffic consumer cannot count: a crossing without its
    direction, a zone leave without its dwell, or fields of one kind on the other."""
    from civicsight.events import RuleHit

    data = {**HIT, "rule_id": "r1", **fields}
    if problem is None:
        hit = RuleHit.model_validate(data)
        assert RuleHit.from_bytes(hit.to_bytes()) == hit
        assert hit.tracklet_id == "cam-1/4"
    else:
        with pytest.raises(ValidationError, match=problem):
            RuleHit.model_validate(data)


@pytest.mark.parametrize(
    "pseudonym", ["AB12CDE", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0"]
)
def test_a_plate_sighting_carries_a_pseudonym_never_a_plate(pseudonym: str) -> None:
    """Privacy: a producer that puts the plate text (or anything but 64 hex bits) where
    the pseudonym goes is refused; a sighting has no plate or tracker id field at all."""
    from civicsight.events import PlateSighting

    with pytest.raises(ValidationError, match="pseudonym"):
        PlateSighting(
            camera_id="cam-1",
            captured_at=1.0,
            cls="car",
            pseudonym=pseudonym,
            key_day=date(1970, 1, 1),
        )
    assert not {"text", "track_id", "plate"} & set(PlateSighting.model_fields)
