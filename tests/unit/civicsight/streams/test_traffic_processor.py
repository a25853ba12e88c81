"""The tracklet processor and the traffic processor over plain dicts: frames in, traffic
rows out, as the stream app runs them on its tables (without Faust or a broker)."""

from __future__ import annotations

import pytest

from civicsight.cameras import GroundCalibration, Rules
from civicsight.events import Box, FrameDetections, TrafficBins
from civicsight.streams.tracklet_processor import TrackletProcessor
from civicsight.streams.traffic_processor import MAX_ROWS_PER_MESSAGE, TrafficProcessor, messages
from civicsight.traffic import BIN_S, CameraBin, CountBin, SpeedBin, StreamRow, ZoneBin

T0 = 1_700_000_100.0 + 300  # five minutes into a bin
BIN = T0 - 300
W, H = 400, 400
RULES = Rules.model_validate(
    {
        "lines": [
            {
                "id": "mid",
                "name": "Mid",
                "points": [[0.0, 0.5], [1.0, 0.5]],
                "to_right": "south",
                "to_left": "north",
            }
        ],
        "zones": [
            {
                "id": "bay",
                "name": "Bay",
                "polygon": [[0.0, 0.7], [1.0, 0.7], [1.0, 0.9], [0.0, 0.9]],
            }
        ],
    }
)
CALIBRATION = GroundCalibration(
    image=((0, 0), (1, 0), (1, 1), (0, 1)), ground=((0, 40), (40, 40), (40, 0), (0, 0))
)
"""Straight down on the road: the frame is 40 m square, 10 cm a pixel."""


def frame(t: float, *boxes: tuple[int, float]) -> bytes:
    """A frame with a car box per (track id, bottom y in frame fractions)."""
    return FrameDetections(
        camera_id="street",
        seq=0,
        captured_at=t,
        width=W,
        height=H,
        model="m",
        boxes=tuple(
            Box(x1=180, y1=y * H - 40, x2=220, y2=y * H, cls="car", conf=0.9, track_id=tid)
            for tid, y in boxes
        ),
        detected_at=t,
    ).to_bytes()


def drive(n: int, start: float = T0, track: int = 1) -> list[bytes]:
    """A car driving down the picture at 10 m/s (0.05 of the frame a frame, 5 fps) from
    y 0.2: it crosses the line at 0.5 after 1.2 s and stops in the bay at 0.8."""
    return [frame(start + i / 5, (track, min(0.2 + 0.05 * i, 0.8))) for i in range(n)]


class Hub:
    """The two processors on dict tables, run the way the stream app runs them."""

    def __init__(
        self, states: dict[bytes, bytes], bins: dict[bytes, bytes], emit_s: float = 5.0
    ) -> None:
        self.tracklets = TrackletProcessor(
            states,
            {},
            timeout=3.0,
            rules=lambda _c: RULES,
            calibration=lambda _c: CALIBRATION.homography,
            traffic=True,
        )
        self.traffic = TrafficProcessor(bins, emit_s=emit_s, settle_s=60.0, rules=lambda _c: RULES)
        self.sent: list[TrafficBins] = []

    def batch(self, frames: list[bytes], wall: float) -> None:
        with self.tracklets.batch(), self.traffic.batch():
            for raw in frames:
                self.tracklets.on_detections(raw, 0, wall)
            self.tracklets.end_batch(0)
            self.traffic.feed(self.tracklets.take_traffic())
            self.sent += [m for _, m in self.traffic.due([0], wall)]

    def tick(self, wall: float) -> None:
        self.tracklets.on_tick(0, wall)
        with self.traffic.batch():
            self.traffic.feed(self.tracklets.take_traffic())
            self.sent += [m for _, m in self.traffic.due([0], wall)]


def rows(hub: Hub, kind: type) -> list[StreamRow]:
    """The newest sent row of each key of one kind (what the store holds)."""
    latest: dict[str, StreamRow] = {}
    for m in hub.sent:
        for r in m.rows():
            if isinstance(r, kind):
                key = "|".join(str(v) for k, v in r.model_dump().items() if k in _KEYS)
                latest[key] = r
    return list(latest.values())


_KEYS = {"bin_start", "camera", "rule", "direction", "cls", "zone"}


def test_frames_become_counts_zone_visits_and_speeds() -> None:
    """A car across the line at 10 m/s that parks in the bay: one southbound car, a speed
    of 36 km/h, an entry and occupancy in the bay, the camera up. Guards the hub's wiring
    from frames to rows: hits, frames and speeds reaching the bins, the calibration
    applied, and the rows going out."""
    hub = Hub({}, {})
    for i, raw in enumerate(drive(40)):
        hub.batch([raw], T0 + i / 5)
    (count,) = rows(hub, CountBin)
    assert (count.rule, count.direction, count.cls, count.count) == ("mid", "south", "car", 1)
    (speed,) = rows(hub, SpeedBin)
    assert speed.count == 1 and speed.p50_kmh == pytest.approx(36.0, abs=0.5)
    (bay,) = rows(hub, ZoneBin)
    assert (bay.entries, bay.exits, bay.occupancy_max) == (1, 0, 1)
    (up,) = rows(hub, CameraBin)
    assert up.up and up.bin_start == BIN
    assert all(r.bin_start == BIN for m in hub.sent for r in m.rows())


def test_messages_go_out_at_most_every_emit_s() -> None:
    """Guards a message per hit (or per frame) on a busy camera."""
    hub = Hub({}, {})
    for i, raw in enumerate(drive(40)):  # 8 s of frames, one batch each
        hub.batch([raw], T0 + i / 5)
    assert len(hub.sent) == 2  # at 0 s and at 5 s
    assert hub.sent[1].emitted_at - hub.sent[0].emitted_at >= 5.0


def test_a_restart_that_replays_hits_counts_them_once() -> None:
    """The stream app stops after writing its traffic table but before its tracklet states
    (or before committing its input offsets): the restarted worker has the newer bins and
    the older tracklets, reads the same frames again and sends the same hits again. Guards
    double counting (hits are deduplicated by camera, tracker id and seq)."""
    states: dict[bytes, bytes] = {}
    bins: dict[bytes, bytes] = {}
    frames = drive(12)
    hub = Hub(states, bins, emit_s=0)
    hub.batch(frames[:4], T0 + 0.8)
    before = dict(states)  # the tracklet state of the last committed batch
    hub.batch(frames[4:], T0 + 2.4)
    (count,) = rows(hub, CountBin)
    assert count.count == 1

    states.clear()
    states.update(before)  # the later tracklet state never reached the changelog
    again = Hub(states, bins, emit_s=0)
    again.batch(frames[4:], T0 + 2.4)
    again.batch(drive(12, start=T0 + 3, track=2), T0 + 5.4)  # a second car
    hub.sent += again.sent
    (count,) = rows(hub, CountBin)
    assert count.count == 2


def test_a_failed_batch_writes_nothing() -> None:
    """Guards a batch that raised half-way leaving its counts in the table (the batch is
    processed again, so they would count twice)."""
    bins: dict[bytes, bytes] = {}
    hub = Hub({}, bins)
    hub.batch(drive(4), T0)
    stored = dict(bins)
    with pytest.raises(RuntimeError), hub.tracklets.batch(), hub.traffic.batch():
        for raw in drive(12)[4:]:
            hub.tracklets.on_detections(raw, 0, T0 + 2)
        hub.traffic.feed(hub.tracklets.take_traffic())
        raise RuntimeError("the agent failed")
    assert bins == stored
    state = hub.traffic.state("street")
    assert state is not None and sum(sum(b.counts.values()) for b in state.bins.values()) == 0


def test_ticks_settle_the_bins_of_a_silent_camera() -> None:
    """The camera stops: ticks run its clock on wall time, close its tracklet (the parked
    car leaves the bay, ``ended``) and settle the bin 60 s after its end, sending it a
    last time. Guards a camera that went down keeping its last bin open (never final),
    and occupancy that never drops."""
    hub = Hub({}, {})
    for i, raw in enumerate(drive(40)):
        hub.batch([raw], T0 + i / 5)
    last = T0 + 39 / 5
    hub.tick(last + 10)  # the tracklet timed out: it left the bay at its last detection
    state = hub.traffic.state("street")
    assert state is not None and state.inside == {}
    hub.tick(last + (BIN + BIN_S - last) + 60)
    assert state.bins == {} and state.sealed == BIN + BIN_S
    (bay,) = rows(hub, ZoneBin)
    assert (bay.entries, bay.exits) == (1, 1)


def test_big_bins_are_split_into_messages() -> None:
    """Guards one message over the topic's size limit on a camera with many rows."""
    many = [
        CountBin(bin_start=BIN, camera="street", rule=f"l{i}", direction="in", cls="car", count=1)
        for i in range(MAX_ROWS_PER_MESSAGE + 5)
    ]
    sizes = [len(m.items) for m in messages("street", many, T0)]
    assert sizes == [MAX_ROWS_PER_MESSAGE, 5]
    assert all(len(m.to_bytes()) < 1024 * 1024 for m in messages("street", many, T0))


def test_a_processor_that_counts_no_traffic_keeps_nothing_for_it() -> None:
    """Guards the offline evaluation (which never takes traffic) holding every frame it
    read in memory, and trails kept on calibrated cameras nobody measures."""
    p = TrackletProcessor(
        {}, {}, rules=lambda _c: RULES, calibration=lambda _c: CALIBRATION.homography
    )
    for i, raw in enumerate(drive(20)):
        p.on_detections(raw, 0, T0 + i / 5)
    assert p.take_traffic() == []
    state = p.state("street")
    assert state is not None and all(not t.speed.points for t in state.tracklets.values())
