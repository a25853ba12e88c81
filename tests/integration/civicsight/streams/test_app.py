"""The stream app as a process against a real tansu broker: detections in, TrackUpdates out,
state surviving a worker restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from civicsight.bus import KafkaPublisher, KafkaSubscriber, ensure_topics
from civicsight.events import (
    Box,
    Crop,
    FrameDetections,
    RuleHit,
    TrackUpdate,
    TrafficBins,
    global_track_id,
)
from civicsight.stack import EmbeddedBroker
from civicsight.traffic import CameraBin, CountBin, ZoneBin, bin_start, row_key

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[4]
JPEG = b"\xff\xd8" + b"C" * 100
TIMEOUT = 1.5  # tracklet timeout given to the worker


class Worker:
    """``python -m streams.app`` as a child process, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.started = time.monotonic()
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-u", "-m", "civicsight.streams.app"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                return -9
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    b = EmbeddedBroker(log_file=tmp_path / "tansu.log")
    b.start()
    try:
        ensure_topics({"bootstrap.servers": b.bootstrap})
        yield b
    finally:
        b.stop()


@pytest.fixture
def start_worker(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Callable[[], Worker]]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "CIVICSIGHT_KAFKA_BOOTSTRAP": broker.bootstrap,
        "CIVICSIGHT_DATA_DIR": str(tmp_path / "data"),
        "CIVICSIGHT_STREAMS_APP_ID": f"streams-test-{uuid.uuid4().hex[:8]}",
        "CIVICSIGHT_TRACKLET_TIMEOUT": str(TIMEOUT),
        "CIVICSIGHT_TRACKLET_UPDATE_INTERVAL": "0.5",
        "CIVICSIGHT_STREAMS_EXPIRE_INTERVAL": "0.5",
        "CIVICSIGHT_CAMERAS_DIR": str(tmp_path / "cameras"),
        "CIVICSIGHT_RULES_RELOAD_S": "0.5",
        "CIVICSIGHT_TRAFFIC_EMIT_S": "0.5",
    }
    workers: list[Worker] = []

    def start() -> Worker:
        w = Worker(env, tmp_path / f"worker-{len(workers)}.log")
        workers.append(w)
        return w

    yield start
    for w in workers:
        w.stop()


def publish_track(
    pub: KafkaPublisher, camera: str, track_ids: dict[int, int], start: float
) -> None:
    """Frames 0.1 s apart; ``track_ids`` maps tracker id to how many frames show it."""
    for i in range(max(track_ids.values())):
        boxes = tuple(
            Box(x1=10 + 5 * i, y1=20, x2=60 + 5 * i, y2=90, cls="car", conf=0.9, track_id=tid)
            for tid, n in track_ids.items()
            if i < n
        )
        t = start + 0.1 * i
        pub.publish(
            "detections",
            camera,
            FrameDetections(
                camera_id=camera,
                seq=i,
                captured_at=t,
                width=640,
                height=480,
                model="test",
                boxes=boxes,
                detected_at=t,
            ),
        )
    pub.flush()


def collect(
    sub: KafkaSubscriber,
    until: Callable[[list[TrackUpdate]], bool],
    got: list[TrackUpdate],
    timeout: float,
    worker: Worker,
) -> float:
    """Read track_updates into ``got`` until ``until(got)``; returns when the first arrived."""
    first = 0.0
    deadline = time.monotonic() + timeout
    while not until(got):
        assert worker.proc.poll() is None, f"worker exited:\n{worker.output()[-4000:]}"
        assert time.monotonic() < deadline, (
            f"timed out; got {[(u.track_id, u.version, u.closed) for u in got]}\n"
            f"{worker.output()[-4000:]}"
        )
        for r in sub.poll_batch(100, 0.2):
            assert isinstance(r.event, TrackUpdate)
            if not first:
                first = time.monotonic()
            got.append(r.event)
    return first


def by_track(updates: list[TrackUpdate]) -> dict[str, list[TrackUpdate]]:
    out: dict[str, list[TrackUpdate]] = {}
    for u in updates:
        out.setdefault(u.track_id, []).append(u)
    return out


def closed(track_id: str) -> Callable[[list[TrackUpdate]], bool]:
    return lambda got: any(u.track_id == track_id and u.closed for u in got)


def test_detections_become_track_updates_and_state_survives_restart(
    broker: EmbeddedBroker, start_worker: Callable[[], Worker]
) -> None:
    """Guards: the worker not consuming (or only after ~30 s) on tansu, confirmed tracks
    missing from track_updates or never closed, flicker becoming tracks, a bad message
    killing the worker, and a restarted worker forgetting its state (versions of a track
    starting again at 1)."""
    cfg = {"bootstrap.servers": broker.bootstrap}
    pub = KafkaPublisher(cfg, "streams-test")
    sub = KafkaSubscriber(cfg, f"reader-{uuid.uuid4().hex[:8]}", ["track_updates"], pub)
    try:
        # the two cameras' keys land in different partitions (1 and 0, librdkafka crc32)
        a1, b7 = global_track_id("north-gate", 1), global_track_id("south-gate", 7)
        now = time.time()
        pub.publish_raw("detections", "north-gate", b"not an event")
        pub.publish(
            "crops",
            "north-gate",
            Crop(
                camera_id="north-gate",
                track_id=1,
                captured_at=now,
                quality=0.8,
                jpeg=JPEG,
                box=Box(x1=10, y1=20, x2=60, y2=90, cls="car", conf=0.9, track_id=1),
            ),
        )
        publish_track(pub, "north-gate", {1: 8, 2: 2}, now)  # track 2 is flicker
        publish_track(pub, "south-gate", {7: 5}, now)

        worker = start_worker()
        got: list[TrackUpdate] = []
        first = collect(sub, lambda g: closed(a1)(g) and closed(b7)(g), got, 30, worker)
        startup = first - worker.started
        print(f"\nstreams worker: {startup:.1f}s from process start to first TrackUpdate")
        assert startup < 15

        tracks = by_track(got)
        assert set(tracks) == {a1, b7}, "flicker (2 detections) must not become a track"
        for updates in tracks.values():
            assert [u.version for u in updates] == list(range(1, len(updates) + 1))
            assert [u.closed for u in updates] == [False] * (len(updates) - 1) + [True]
            assert updates[-1].last_seen - updates[-1].first_seen == pytest.approx(
                0.7 if updates[0].track_id == a1 else 0.4, abs=1e-3
            )
        assert [u.best_crop_jpeg for u in tracks[a1] if u.best_crop_jpeg] == [JPEG]
        assert tracks[b7][0].cameras == ("south-gate",)
        assert "skipped undecodable detections" in worker.output()

        assert worker.stop() == 0, worker.output()[-4000:]

        # a fresh worker rebuilt from the changelog still knows track a1's last version
        last = tracks[a1][-1].version
        restarted = start_worker()
        publish_track(pub, "north-gate", {1: 4}, time.time())
        more: list[TrackUpdate] = []
        first = collect(sub, closed(a1), more, 30, restarted)
        print(f"streams worker restart: {first - restarted.started:.1f}s to first TrackUpdate")
        assert {u.track_id for u in more} == {a1}
        assert [u.version for u in more] == list(range(last + 1, last + 1 + len(more)))
        assert more[0].first_seen == tracks[a1][0].first_seen
        assert restarted.stop() == 0, restarted.output()[-4000:]
    finally:
        sub.close()
        pub.close()


def test_an_operator_merge_through_the_api_reaches_the_join(
    broker: EmbeddedBroker, start_worker: Callable[[], Worker], tmp_path: Path
) -> None:
    """Guards the whole correction path: POST /api/tracks/{id}/merge (an investigator,
    with a reason) -> track_corrections -> the stream app's join -> a new TrackUpdate
    version holding both cameras' tracklets; a viewer may not; the audit log keeps it."""
    from fastapi.testclient import TestClient

    from civicsight.audit import AuditLog
    from civicsight.auth import Role, TokenStore
    from civicsight.services.api.app import create_app
    from civicsight.services.api.state import ApiState
    from civicsight.store.sqlite import SqliteTrackStore

    cfg = {"bootstrap.servers": broker.bootstrap}
    pub = KafkaPublisher(cfg, "streams-test")
    sub = KafkaSubscriber(cfg, f"reader-{uuid.uuid4().hex[:8]}", ["track_updates"], pub)
    store, tokens, audit = (
        SqliteTrackStore(tmp_path / "t.db"),
        TokenStore(tmp_path / "auth.db"),
        AuditLog(tmp_path),
    )
    for part in (store, tokens, audit):
        part.open()
    try:
        now = time.time()
        publish_track(pub, "north-gate", {1: 8}, now)
        publish_track(pub, "south-gate", {7: 5}, now)  # no camera graph: never joined
        worker = start_worker()
        got: list[TrackUpdate] = []

        def two_global(g: list[TrackUpdate]) -> bool:
            return len({u.track_id for u in g if u.track_id.startswith("g-")}) >= 2

        collect(sub, two_global, got, 45, worker)
        a1, b7 = sorted({u.track_id for u in got if u.track_id.startswith("g-")})[:2]

        app = create_app(ApiState(store=store, tokens=tokens, audit=audit, publisher=pub))
        with TestClient(app) as http:
            body = {"other_track_id": b7, "reason": "same van, seen on both gates"}
            viewer = {"Authorization": f"Bearer {tokens.issue(Role.VIEWER, 'wall')}"}
            assert (
                http.post(f"/api/tracks/{a1}/merge", json=body, headers=viewer).status_code == 403
            )
            ines = {"Authorization": f"Bearer {tokens.issue(Role.INVESTIGATOR, 'ines')}"}
            resp = http.post(f"/api/tracks/{a1}/merge", json=body, headers=ines)
            assert resp.status_code == 202, resp.text
            bad = http.post(
                f"/api/tracks/{a1}/merge", json={**body, "other_track_id": a1}, headers=ines
            )
            assert bad.status_code == 400

        def merged(g: list[TrackUpdate]) -> bool:
            return any(set(u.cameras) == {"north-gate", "south-gate"} for u in g[len(got) :])

        more = list(got)
        collect(sub, merged, more, 30, worker)
        (entry,) = audit.entries(action="track.merge")
        assert entry.actor == "ines" and entry.details["reason"] == body["reason"]
        assert worker.stop() == 0, worker.output()[-4000:]
    finally:
        sub.close()
        pub.close()
        for part in (store, tokens, audit):
            part.close()


PLAZA = """id: plaza
name: Plaza
source: media:plaza.mp4
rules:
  lines:
    - {id: kerb, name: Kerb, points: [[0.1, 0.5], [0.9, 0.5]], to_right: south, to_left: north}
  zones:
    - {id: bench, name: Bench, polygon: [[0.3, 0.6], [0.7, 0.6], [0.7, 0.8], [0.3, 0.8]]}
"""


def walk(pub: KafkaPublisher, track: int, feet: list[tuple[float, float]], start: float) -> None:
    """A person whose feet (box bottom-centre, frame fractions) go through ``feet``, one
    frame of plaza (640x480) every 0.2 s."""
    for i, (x, y) in enumerate(feet):
        t = start + 0.2 * i
        box = Box(
            x1=640 * x - 20,
            y1=480 * y - 90,
            x2=640 * x + 20,
            y2=480 * y,
            cls="person",
            conf=0.9,
            track_id=track,
        )
        pub.publish(
            "detections",
            "plaza",
            FrameDetections(
                camera_id="plaza",
                seq=i,
                captured_at=t,
                width=640,
                height=480,
                model="test",
                boxes=(box,),
                detected_at=t,
            ),
        )
    pub.flush()


def read_hits(
    sub: KafkaSubscriber,
    got: list[RuleHit],
    worker: Worker,
    until: Callable[[], bool] | None = None,
    seconds: float = 40.0,
) -> None:
    """Read rule_hits into ``got`` until ``until()`` holds (failing after ``seconds``), or,
    without ``until``, for ``seconds``."""
    deadline = time.monotonic() + seconds
    while until is None or not until():
        assert worker.proc.poll() is None, f"worker exited:\n{worker.output()[-4000:]}"
        if time.monotonic() > deadline:
            assert until is None, f"timed out; got {got}\n{worker.output()[-4000:]}"
            return
        for r in sub.poll_batch(100, 0.2):
            assert isinstance(r.event, RuleHit)
            got.append(r.event)


def put_rules(tmp_path: Path, camera_id: str, rules: dict[str, object]) -> None:
    """PUT /api/cameras/{id}/rules as an administrator, on the API the hub would run."""
    from fastapi.testclient import TestClient

    from civicsight.audit import AuditLog
    from civicsight.auth import Role, TokenStore
    from civicsight.cameras import load_cameras
    from civicsight.services.api.app import create_app
    from civicsight.services.api.camera_registry import CameraRegistry
    from civicsight.services.api.state import ApiState
    from civicsight.store.sqlite import SqliteTrackStore

    store, tokens = SqliteTrackStore(tmp_path / "t.db"), TokenStore(tmp_path / "auth.db")
    trail = AuditLog(tmp_path)
    store.open()
    tokens.open()
    trail.open()
    try:
        cameras = tmp_path / "cameras"
        app = create_app(
            ApiState(
                store=store,
                tokens=tokens,
                audit=trail,
                cameras=CameraRegistry(load_cameras(cameras), cameras),
            )
        )
        admin = {"Authorization": f"Bearer {tokens.issue(Role.ADMIN, 'ops')}"}
        with TestClient(app) as http:
            resp = http.put(f"/api/cameras/{camera_id}/rules", json=rules, headers=admin)
            assert resp.status_code == 200, resp.text
    finally:
        store.close()
        tokens.close()
        trail.close()


def test_a_walker_across_a_line_and_through_a_zone_makes_rule_hits(
    broker: EmbeddedBroker, start_worker: Callable[[], Worker], tmp_path: Path
) -> None:
    """Guards the rules path through the broker: the camera file's line and zone
    evaluated on the stream app's tracklets, hits on rule_hits in order with the
    crossing's direction and the zone's dwell, a tracklet that ends inside the zone
    leaving it (``ended``), and rules saved through the API applying without a restart."""
    cameras = tmp_path / "cameras"
    cameras.mkdir()
    (cameras / "plaza.yaml").write_text(PLAZA)
    cfg = {"bootstrap.servers": broker.bootstrap}
    pub = KafkaPublisher(cfg, "streams-test")
    sub = KafkaSubscriber(cfg, f"reader-{uuid.uuid4().hex[:8]}", ["rule_hits"], pub)
    try:
        now = time.time()
        # down across the kerb, through the bench zone and out below it
        walk(pub, 3, [(0.5, 0.3 + 0.05 * i) for i in range(13)], now)
        # then someone who sits down on the bench until the tracker loses them
        walk(pub, 5, [(0.5, 0.7)] * 5, now + 3)
        worker = start_worker()
        got: list[RuleHit] = []
        read_hits(sub, got, worker, lambda: len(got) >= 5)
        assert [(h.track_id, h.rule_id, h.direction or h.action, h.seq) for h in got] == [
            (3, "kerb", "south", 1),
            (3, "bench", "enter", 2),
            (3, "bench", "leave", 3),
            (5, "bench", "enter", 1),
            (5, "bench", "leave", 2),
        ]
        assert got[0].captured_at == pytest.approx(now + 0.2 * 4, abs=0.01)  # at y = 0.5
        assert got[2].dwell_s == pytest.approx(0.8, abs=0.01) and not got[2].ended
        assert got[4].dwell_s == pytest.approx(0.8, abs=0.01) and got[4].ended
        assert {(h.camera_id, h.cls) for h in got} == {("plaza", "person")}

        # an administrator replaces the rules through the API; the running worker follows
        gate = {"id": "gate", "name": "Gate", "points": [[0.5, 0.9], [0.5, 0.1]]}
        put_rules(tmp_path, "plaza", {"lines": [gate]})
        time.sleep(1.5)  # the worker reads the camera files again every 0.5 s
        # across the old kerb (gone now) and the new gate, then standing in the old zone
        walk(pub, 4, [(0.3 + 0.05 * i, 0.3 + 0.05 * i) for i in range(8)], time.time())
        more: list[RuleHit] = []
        read_hits(sub, more, worker, lambda: len(more) >= 1)
        # the tracklet times out: a leave would come now if the zone had stayed
        read_hits(sub, more, worker, seconds=3)
        assert [(h.track_id, h.rule_id, h.direction) for h in more] == [(4, "gate", "in")]
        assert worker.stop() == 0, worker.output()[-4000:]
    finally:
        sub.close()
        pub.close()


def read_bins(
    sub: KafkaSubscriber, got: list[TrafficBins], worker: Worker, until: Callable[[], bool]
) -> None:
    deadline = time.monotonic() + 40
    while not until():
        assert worker.proc.poll() is None, f"worker exited:\n{worker.output()[-4000:]}"
        assert time.monotonic() < deadline, f"timed out; got {got}\n{worker.output()[-4000:]}"
        for r in sub.poll_batch(100, 0.2):
            assert isinstance(r.event, TrafficBins) and r.key == "plaza"
            got.append(r.event)


def newest(got: list[TrafficBins], kind: type) -> list[Any]:
    """The newest row of each key of one kind, as the store would hold them."""
    rows: dict[str, Any] = {}
    for message in got:
        for row in message.rows():
            if isinstance(row, kind):
                rows[row_key(row)] = row
    return list(rows.values())


def test_traffic_bins_count_hits_once_across_a_restart(
    start_worker: Callable[[], Worker], broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """Guards the traffic path through the broker: the camera file's rules evaluated,
    the bin's counts and zone visits sent on traffic_bins, and a restarted worker going on
    from the traffic table's changelog (a second walker makes 2, not 1: state lost, nor
    3: a hit counted again)."""
    cameras = tmp_path / "cameras"
    cameras.mkdir()
    (cameras / "plaza.yaml").write_text(PLAZA)
    cfg = {"bootstrap.servers": broker.bootstrap}
    pub = KafkaPublisher(cfg, "streams-test")
    sub = KafkaSubscriber(cfg, f"reader-{uuid.uuid4().hex[:8]}", ["traffic_bins"], pub)
    base = bin_start(time.time()) + 1.0  # both walkers in the current bin
    try:
        walk(pub, 3, [(0.5, 0.3 + 0.05 * i) for i in range(13)], base)  # over the kerb, bench
        worker = start_worker()
        got: list[TrafficBins] = []

        def counted(n: int) -> bool:
            return [(c.direction, c.cls, c.count) for c in newest(got, CountBin)] == [
                ("south", "person", n)
            ]

        read_bins(sub, got, worker, lambda: counted(1) and bool(newest(got, ZoneBin)))
        (bench,) = newest(got, ZoneBin)
        assert (bench.zone, bench.entries, bench.exits, bench.dwell_p50_s) == ("bench", 1, 1, 0.8)
        assert [(c.up, c.bin_start) for c in newest(got, CameraBin)] == [(True, bin_start(base))]
        assert worker.stop() == 0, worker.output()[-4000:]

        restarted = start_worker()
        walk(pub, 9, [(0.2, 0.3 + 0.05 * i) for i in range(8)], base + 10)  # over the kerb
        read_bins(sub, got, restarted, lambda: counted(2))
        time.sleep(2.0)  # any hit counted twice would show in the next message
        read_bins(sub, got, restarted, lambda: True)
        assert counted(2), newest(got, CountBin)
        assert restarted.stop() == 0, restarted.output()[-4000:]
    finally:
        sub.close()
        pub.close()
