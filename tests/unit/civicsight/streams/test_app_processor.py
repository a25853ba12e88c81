"""The stream app without Kafka: ``TrackletProcessor`` over plain dicts, and the Faust
configuration built by ``create_app`` (nothing here connects to a broker)."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import SecretStr

from civicsight.cameras import NO_RULES, CountingLine, Rules, Zone
from civicsight.events import Box, Crop, FrameDetections, TrackUpdate, global_track_id
from civicsight.streams.app import (
    StreamSettings,
    TrackletProcessor,
    broker_credentials,
    broker_urls,
    create_app,
)

T0 = 1_700_000_000.0
JPEG = b"\xff\xd8" + b"J" * 64


def det(camera: str, t: float, *track_ids: int) -> bytes:
    boxes = tuple(
        Box(x1=10, y1=10, x2=20, y2=20, cls="person", conf=0.8, track_id=tid) for tid in track_ids
    )
    return FrameDetections(
        camera_id=camera,
        seq=0,
        captured_at=t,
        width=100,
        height=100,
        model="m",
        boxes=boxes,
        detected_at=t,
    ).to_bytes()


def crop(camera: str, track_id: int, quality: float, t: float = T0) -> bytes:
    box = Box(x1=10, y1=10, x2=20, y2=20, cls="person", conf=0.8, track_id=track_id)
    return Crop(
        camera_id=camera, track_id=track_id, captured_at=t, box=box, quality=quality, jpeg=JPEG
    ).to_bytes()


def processor(
    states: dict[bytes, bytes] | None = None, crops: dict[bytes, bytes] | None = None
) -> TrackletProcessor:
    return TrackletProcessor(
        {} if states is None else states,
        {} if crops is None else crops,
        min_detections=3,
        update_interval=2.0,
        timeout=3.0,
    )


def run_frames(
    p: TrackletProcessor, camera: str, partition: int, times: list[float], track: int = 1
) -> list[TrackUpdate]:
    out: list[TrackUpdate] = []
    for t in times:
        out += p.on_detections(det(camera, t, track), partition, t)
    return out


@pytest.mark.parametrize(
    ("topic", "raw"),
    [
        ("detections", b"not json"),
        ("detections", None),
        ("detections", b'{"camera_id": "c"}'),
        (
            "detections",
            json.dumps(
                {
                    "camera_id": "c",
                    "seq": 0,
                    "captured_at": 1,
                    "width": 1,
                    "height": 1,
                    "model": "m",
                    "detected_at": 1,
                    "race": "x",
                }
            ).encode(),
        ),
        ("crops", b"\x00\x01"),
        ("crops", det("cam-a", T0, 1)),  # a FrameDetections is not a Crop
    ],
)
def test_undecodable_messages_are_skipped_and_counted(
    topic: str, raw: bytes | None, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards: one bad message crashing the worker (it would crash again on restart,
    stuck on the same offset)."""
    p = processor()
    with caplog.at_level(logging.WARNING, logger="civicsight.streams.app"):
        if topic == "detections":
            assert p.on_detections(raw, 0, T0, "detections[0]@7") == []
        else:
            p.on_crop(raw, 0, "crops[0]@7")
    assert p.counters.skipped == {topic: 1}
    assert "skipped undecodable" in caplog.text
    # and the next good message is processed normally
    updates = run_frames(p, "cam-a", 0, [T0, T0 + 0.1, T0 + 0.2])
    assert [u.version for u in updates] == [1]


def test_crops_stored_apart_and_recovered_after_restart() -> None:
    """Guards: the per-frame state write carrying JPEGs (changelog flooding), and a
    restarted worker losing the crop or re-sending it or restarting versions at 1."""
    states: dict[bytes, bytes] = {}
    crops: dict[bytes, bytes] = {}
    p = processor(states, crops)
    p.on_crop(crop("cam-a", 1, 0.6), 2)
    first = run_frames(p, "cam-a", 2, [T0, T0 + 1, T0 + 2])
    assert [u.best_crop_jpeg for u in first] == [JPEG]
    assert JPEG not in states[b"cam-a"]
    assert list(crops) == [b"cam-a/1"]

    restarted = processor(dict(states), dict(crops))  # a worker rebuilt from changelogs
    assert restarted.state("cam-a") == p.state("cam-a")
    again = run_frames(restarted, "cam-a", 2, [T0 + 3, T0 + 4])
    assert [(u.version, u.best_crop_jpeg) for u in again] == [(2, None)]
    restarted.on_crop(crop("cam-a", 1, 0.9), 2)
    again = run_frames(restarted, "cam-a", 2, [T0 + 5, T0 + 6])
    assert [(u.version, u.best_crop_jpeg) for u in again] == [(3, JPEG)]


@pytest.mark.parametrize(
    ("tick_partition", "closed_cameras"),
    [
        (0, ["cam-a"]),
        (3, ["cam-b", "cam-c"]),
        (5, []),
    ],
)
def test_tick_expires_only_its_partition(tick_partition: int, closed_cameras: list[str]) -> None:
    """Guards: a worker closing (and writing) cameras whose partitions it does not own,
    or a changelog record landing in the wrong partition."""
    p = processor()
    for camera, partition in [("cam-a", 0), ("cam-b", 3), ("cam-c", 3)]:
        run_frames(p, camera, partition, [T0, T0 + 0.1, T0 + 0.2])
    updates = p.on_tick(tick_partition, T0 + 10)
    assert sorted(u.track_id for u in updates) == sorted(
        global_track_id(c, 1) for c in closed_cameras
    )
    assert all(u.closed for u in updates)


def test_closed_tracklets_leave_no_crop_and_idle_cameras_leave_the_table() -> None:
    """Guards: the tables growing with every camera and crop ever seen."""
    states: dict[bytes, bytes] = {}
    crops: dict[bytes, bytes] = {}
    p = TrackletProcessor(states, crops, keep_closed=5.0)
    p.on_crop(crop("cam-a", 1, 0.6), 1)
    p.on_crop(crop("cam-a", 2, 0.6), 1)  # never detected: dropped silently
    run_frames(p, "cam-a", 1, [T0, T0 + 0.1, T0 + 0.2])
    assert len(crops) == 2
    closed = p.on_tick(1, T0 + 4)
    assert [u.closed for u in closed] == [True]
    assert crops == {}
    assert b"cam-a" in states  # still remembers the closed id
    assert p.on_tick(1, T0 + 10) == []
    assert states == {}
    assert p.on_detections(det("cam-a", T0 + 11), 1, T0 + 11) == []
    assert states == {}  # frames without tracks write nothing


def feet(camera: str, t: float, y: float, track: int = 4) -> bytes:
    """A frame whose one box stands with its feet at (0.5, y)."""
    box = Box(x1=45, y1=100 * y - 30, x2=55, y2=100 * y, cls="car", conf=0.9, track_id=track)
    return FrameDetections(
        camera_id=camera,
        seq=0,
        captured_at=t,
        width=100,
        height=100,
        model="m",
        boxes=(box,),
        detected_at=t,
    ).to_bytes()


RULES = Rules(
    lines=(CountingLine(id="gate", name="Gate", points=((0.0, 0.5), (1.0, 0.5))),),
    zones=(Zone(id="yard", name="Yard", polygon=((0.0, 0.0), (1.0, 0.0), (1.0, 0.5), (0.0, 0.5))),),
)


def test_rule_hits_follow_the_camera_file_the_partition_and_the_tables() -> None:
    """Guards: a redelivered frame counting a crossing twice, hits sent for a camera
    without rules, a restarted worker (tables rebuilt from changelogs) forgetting a zone
    visit, and a visit never closed when its tracklet times out."""
    states: dict[bytes, bytes] = {}
    p = TrackletProcessor(states, {}, rules=lambda c: RULES if c == "cam-a" else NO_RULES)
    for i, y in enumerate([0.3, 0.35, 0.4, 0.6]):
        p.on_detections(feet("cam-a", T0 + 0.2 * i, y), 4, T0 + 0.2 * i)
        p.on_detections(feet("cam-b", T0 + 0.2 * i, y), 5, T0 + 0.2 * i)
    p.on_detections(feet("cam-a", T0 + 0.6, 0.6), 4, T0 + 0.7)  # redelivered
    hits = p.take_hits()
    assert [(part, h.camera_id, h.rule_id, h.direction or h.action, h.seq) for part, h in hits] == [
        (4, "cam-a", "yard", "enter", 1),
        (4, "cam-a", "gate", "in", 2),
        (4, "cam-a", "yard", "leave", 3),
    ]
    assert hits[-1][1].dwell_s == pytest.approx(0.6) and p.take_hits() == []

    p.on_detections(feet("cam-a", T0 + 1.0, 0.3, track=6), 4, T0 + 1.0)
    restarted = TrackletProcessor(dict(states), {}, rules=lambda c: RULES)
    for i in range(1, 3):
        restarted.on_detections(
            feet("cam-a", T0 + 1.0 + 0.2 * i, 0.3, track=6), 4, T0 + 1.0 + 0.2 * i
        )
    restarted.on_tick(4, T0 + 10)
    visit = [(h.track_id, h.action, h.ended, h.dwell_s) for _, h in restarted.take_hits()]
    assert visit == [(6, "enter", False, None), (6, "leave", True, pytest.approx(0.4))]


@pytest.mark.parametrize(
    ("bootstrap", "urls"),
    [
        ("127.0.0.1:9092", ["kafka://127.0.0.1:9092"]),
        ("a:1, b:2,", ["kafka://a:1", "kafka://b:2"]),
    ],
)
def test_broker_urls(bootstrap: str, urls: list[str]) -> None:
    """Guards: a multi-broker bootstrap list reaching Faust as one bogus host."""
    assert broker_urls(bootstrap) == urls


@pytest.mark.parametrize(
    ("protocol", "user", "password", "expect"),
    [
        ("PLAINTEXT", None, None, "none"),
        ("PLAINTEXT", "u", "s3cret-pw", "none"),
        ("SASL_PLAINTEXT", "u", "s3cret-pw", "sasl"),
        ("SASL_SSL", "u", "s3cret-pw", "sasl"),
        ("SASL_SSL", None, None, "error"),
        ("SSL", None, None, "ssl"),
    ],
)
def test_credentials_passed_only_when_set_and_never_shown(
    protocol: str,
    user: str | None,
    password: str | None,
    expect: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Guards: the Kafka password showing up in Faust's banner, logs or reprs, and a
    SASL cluster silently contacted without credentials."""
    settings = StreamSettings(
        kafka_security_protocol=protocol,
        kafka_username=user,
        kafka_password=None if password is None else SecretStr(password),
        kafka_sasl_mechanism="SCRAM-SHA-512" if user else None,
    )
    if expect == "error":
        with pytest.raises(ValueError, match="needs"):
            broker_credentials(settings)
        return
    creds = broker_credentials(settings)
    assert (creds is None) == (expect == "none")
    if expect == "sasl":
        assert type(creds).__name__ == "SASLCredentials"
    with caplog.at_level(logging.DEBUG):
        app = create_app(settings).app
    for text in (
        repr(creds),
        str(app.conf.broker),
        repr(app.conf.broker_credentials),
        repr(settings),
        caplog.text,
    ):
        assert "s3cret-pw" not in text


def test_app_configuration() -> None:
    """Guards: the slow start on tansu (Faust's 60 s session: ~30 s before consuming),
    Faust creating the input topics, and state written into the working directory."""
    settings = StreamSettings(streams_app_id="s-test", data_dir="/tmp/x")
    built = create_app(settings)
    conf = built.app.conf
    assert conf.broker_session_timeout == 6.0
    assert conf.broker_heartbeat_interval <= conf.broker_session_timeout / 3
    assert conf.web_enabled is False
    assert conf.topic_disable_leader is True
    assert str(conf.store) == "memory:"
    assert str(conf.datadir).startswith("/tmp/x/streams")
    channels = {a.channel.topics: a.channel for a in built.app.agents.values()}
    inputs = ("detections", "crops", "appearances", "plate_reads")
    assert not channels[inputs].internal  # never declared by Faust
    ticks = channels[("s-test-expiry-ticks",)]
    assert ticks.internal and ticks.partitions == 6  # co-partitioned with inputs
    join = channels[("s-test-join",)]
    assert join.internal and join.partitions == 1  # one join state: one global id per tracklet
    assert {t.name: t.partitions for t in built.app.tables.values()} == {
        "tracklets": 6,
        "best-crops": 6,
        "join-log": 1,
    }


def test_settings_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards: a tuning variable silently ignored (wrong name or prefix)."""
    monkeypatch.setenv("CIVICSIGHT_TRACKLET_TIMEOUT", "1.5")
    monkeypatch.setenv("CIVICSIGHT_TRACKLET_MIN_DETECTIONS", "2")
    monkeypatch.setenv("CIVICSIGHT_TRACKLET_UPDATE_INTERVAL", "0.5")
    monkeypatch.setenv("CIVICSIGHT_STREAMS_APP_ID", "other")
    s = StreamSettings()
    assert (
        s.tracklet_timeout,
        s.tracklet_min_detections,
        s.tracklet_update_interval,
        s.streams_app_id,
    ) == (1.5, 2, 0.5, "other")
    with pytest.raises(ValueError):
        s.tracklet_timeout = 9.0  # type: ignore[misc]


@pytest.mark.parametrize("stored", [b"garbage", b'{"partition": 1, "state": {"format": 7}}'])
def test_corrupt_stored_state_starts_the_camera_afresh(stored: bytes) -> None:
    """Guards: one bad changelog record crash-looping every worker that recovers it."""
    p = processor({b"cam-a": stored}, {b"cam-a/1": b"bad"})
    updates = run_frames(p, "cam-a", 1, [T0, T0 + 0.1, T0 + 0.2])
    assert [u.version for u in updates] == [1]
    assert p.counters.skipped == {"state": 1}
    assert p.on_tick(0, T0 + 10) == []
