"""The whole hub on real video: ingest -> detect -> stream -> indexer -> store -> API, each
service its own process talking through the real tansu broker; then a crash of the indexer."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from civicsight.auth import TokenStore
from civicsight.events import TrackUpdate
from civicsight.stack import Supervisor
from civicsight.store.sqlite import SqliteTrackStore
from tests.e2e.conftest import whole_hub

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]
VEHICLES = {"car", "truck", "bus", "motorcycle", "bicycle"}


@dataclass
class Hub:
    data: Path
    api: str
    token: str
    supervisor: Supervisor
    kafka: dict[str, str]

    def get(self, path: str) -> dict[str, object]:
        """GET as the investigator; searches state the e2e case and purpose."""
        if path.startswith(("/api/tracks", "/api/search")):
            path += ("&" if "?" in path else "?") + "case=E2E-1&purpose=end+to+end+test"
        req = urllib.request.Request(
            self.api + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, media_mirror: Path, model_mirror: Path
) -> Iterator[Hub]:
    data = tmp_path_factory.mktemp("hub")
    cams = data / "cameras"
    cams.mkdir()
    for name in ("street", "walkway"):
        (cams / f"{name}.yaml").write_text(
            (REPO / f"civicsight/data/demo_cameras/{name}.yaml").read_text()
        )
    with whole_hub(data, cams, media_mirror, model_mirror) as running:
        tokens = TokenStore(data / "auth.db")
        tokens.open()
        token = tokens.issue("investigator", "e2e")
        tokens.close()
        yield Hub(data, running.url, token, running.supervisor, running.kafka)


def wait_for(check: object, timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()  # type: ignore[operator]
        if got:
            return got
        time.sleep(1.0)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_api_returns_person_and_vehicle_tracks_from_real_video(hub: Hub) -> None:
    def classes() -> set[str]:
        items = hub.get("/api/tracks?limit=500")["items"]
        found = {str(t["cls"]) for t in items}  # type: ignore[index, union-attr]
        return found if "person" in found and found & VEHICLES else set()

    found = wait_for(classes, 180, "person and vehicle tracks in the API")
    assert isinstance(found, set)
    person = hub.get("/api/tracks?cls=person&camera=walkway")["items"]
    assert person and all(t["cameras"] == ["walkway"] for t in person)  # type: ignore[index]
    cams = {c["id"] for c in hub.get("/api/cameras")}  # type: ignore[index, union-attr]
    assert cams == {"street", "walkway"}
    req = urllib.request.Request(
        hub.api + "/api/cameras/walkway/latest.jpg",
        headers={"Authorization": f"Bearer {hub.token}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.read()[:2] == b"\xff\xd8"


def read_updates_until(kafka: dict[str, str], ends: dict[int, int]) -> list[TrackUpdate]:
    """Every TrackUpdate on the topic below the given end offsets (per partition)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({**kafka, "group.id": f"audit-{uuid.uuid4()}", "enable.auto.commit": False})
    c.assign([TopicPartition("track_updates", p, 0) for p, end in ends.items() if end > 0])
    out: list[TrackUpdate] = []
    left = {p: end for p, end in ends.items() if end > 0}
    deadline = time.monotonic() + 60
    while left and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is None or msg.error():
            continue
        p, off = msg.partition(), msg.offset()
        if p in left and off < left[p]:
            out.append(TrackUpdate.from_bytes(msg.value()))
            if off + 1 >= left[p]:
                del left[p]
    c.close()
    assert not left, f"could not read back partitions {left}"
    return out


def end_offsets(kafka: dict[str, str]) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({**kafka, "group.id": f"offsets-{uuid.uuid4()}"})
    ends = {
        p: c.get_watermark_offsets(TopicPartition("track_updates", p), timeout=10)[1]
        for p in range(6)
    }
    c.close()
    return ends


def test_indexer_killed_mid_stream_loses_and_duplicates_nothing(hub: Hub) -> None:
    """kill -9 the indexer while tracks flow; after its restart every TrackUpdate produced
    before the kill is in the store exactly once (at-least-once bus + idempotent upsert)."""
    store = SqliteTrackStore(hub.data / "tracks.db")
    store.open()
    wait_for(lambda: len(store.versions()) >= 3, 120, "some stored track versions")
    pid = hub.supervisor.pid("indexer")
    assert pid is not None
    ends = end_offsets(hub.kafka)  # produced so far: at most this is in the store now
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: hub.supervisor.restarts("indexer") >= 1, 30, "the indexer restart")
    produced = read_updates_until(hub.kafka, ends)
    wanted = {(u.track_id, u.version) for u in produced}
    assert wanted

    def stored_all() -> bool:
        return wanted <= set(store.versions())

    wait_for(stored_all, 90, "every pre-kill update in the store")
    versions = store.versions()
    assert len(versions) == len(set(versions))  # exactly once
    newest: dict[str, int] = {}
    for track, version in wanted:
        newest[track] = max(version, newest.get(track, 0))
    for track, version in newest.items():
        got = store.get(track)
        assert got is not None and got.version >= version  # never regressed
    store.close()


def test_corrupt_jpeg_frame_goes_to_the_dead_letter_topic(hub: Hub) -> None:
    """A frame whose JPEG cannot be decoded is dead-lettered by detect; detect keeps going."""
    from confluent_kafka import Consumer, TopicPartition

    from civicsight.bus import KafkaPublisher
    from civicsight.events import Frame

    camera = f"broken-{uuid.uuid4().hex[:6]}"
    pub = KafkaPublisher(hub.kafka, "e2e")
    bad = Frame(
        camera_id=camera,
        seq=1,
        captured_at=time.time(),
        width=64,
        height=64,
        jpeg=b"\xff\xd8 this is not a jpeg \xff\xd9",
    )
    pub.publish("frames", camera, bad)
    pub.close()
    dlq = Consumer({**hub.kafka, "group.id": f"dlq-{uuid.uuid4()}"})
    dlq.assign([TopicPartition("frames.dlq", 0, 0)])
    found = None
    deadline = time.monotonic() + 60
    while found is None and time.monotonic() < deadline:
        msg = dlq.poll(0.5)
        if msg is not None and not msg.error() and msg.key() == camera.encode():
            found = msg
    dlq.close()
    assert found is not None, "corrupt frame not dead-lettered"
    assert b"cannot be decoded" in dict(found.headers() or [])["dlq.reason"]
    assert hub.supervisor.restarts("detect") == 0


def test_reid_embeds_tracked_people_of_the_live_cameras(hub: Hub) -> None:
    """Crops flow detect -> reid -> appearances with unit 256-d person vectors."""
    from confluent_kafka import Consumer, TopicPartition

    from civicsight.events import Appearance

    c = Consumer({**hub.kafka, "group.id": f"app-{uuid.uuid4()}"})
    c.assign([TopicPartition("appearances", p, 0) for p in range(6)])
    found: list[Appearance] = []
    deadline = time.monotonic() + 90
    while not found and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is not None and not msg.error():
            event = Appearance.from_bytes(msg.value())
            if event.cls == "person" and event.camera_id == "walkway":
                found.append(event)
    c.close()
    assert found, "no person appearance from the walkway camera"
    vector = found[0].embedding
    assert len(vector) == 256
    assert abs(sum(v * v for v in vector) - 1.0) < 1e-3
    assert found[0].colour is None


def test_walkway_rules_count_the_real_walkers(hub: Hub) -> None:
    """The demo walkway's counting line and zone on real video: walkers detected and
    tracked by the hub stand at the table (a zone visit with its dwell) and leave through
    the exit line to the right ("out"); the control room's poll sees the hits."""
    from confluent_kafka import Consumer, TopicPartition

    from civicsight.events import RuleHit

    c = Consumer({**hub.kafka, "group.id": f"hits-{uuid.uuid4()}"})
    c.assign([TopicPartition("rule_hits", p, 0) for p in range(6)])
    hits: list[RuleHit] = []

    def walked_out() -> bool:
        msg = c.poll(0.5)
        if msg is not None and not msg.error():
            hits.append(RuleHit.from_bytes(msg.value()))
        said = {(h.rule_id, h.direction or h.action) for h in hits if h.camera_id == "walkway"}
        return {("table", "leave"), ("exit", "out")} <= said

    try:
        wait_for(walked_out, 150, "a walker at the table and out through the exit")
    finally:
        c.close()
    (leave, *_) = [h for h in hits if h.rule_id == "table" and h.action == "leave"]
    assert leave.dwell_s is not None and leave.dwell_s > 3 and leave.cls == "person"
    assert not [h for h in hits if h.camera_id == "walkway" and h.direction == "in"]
    polled = wait_for(
        lambda: hub.get("/api/events/rule-hits?camera=walkway")["hits"], 150, "polled hits"
    )
    assert {h["camera_id"] for h in polled} == {"walkway"}  # type: ignore[union-attr]


def test_the_api_opens_the_graphs_the_indexer_saved(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the API rebuilding every image-search graph from the store at each start:
    the hub's indexer saves them as appearances arrive, and a new reader opens them and
    finds a stored person by its own vector through the graph."""
    import sqlite3

    from civicsight.store import SimilarQuery
    from civicsight.store.sqlite import vector_folder
    from civicsight.store.vector_files import read_manifest

    folder = vector_folder(hub.data / "tracks.db")

    def saved_persons() -> bool:
        manifest = read_manifest(folder)
        return manifest is not None and any(s.cls == "person" and s.count for s in manifest.spaces)

    wait_for(saved_persons, 150, "a saved image-search graph of persons")
    manifest = read_manifest(folder)
    assert manifest is not None
    with sqlite3.connect(hub.data / "tracks.db") as db:
        tracklet, model, blob = db.execute(
            "SELECT tracklet_id, model, embedding FROM sightings "
            "WHERE cls = 'person' AND vec_id <= ? ORDER BY vec_id DESC LIMIT 1",
            (manifest.last_id,),
        ).fetchone()
    monkeypatch.setattr("civicsight.store.sqlite.EXACT_KNN_MAX", 0)  # the graph path
    reader = SqliteTrackStore(hub.data / "tracks.db")
    reader.open()
    try:
        reader.warm()
        hits = reader.search_similar(
            SimilarQuery(np.frombuffer(blob, np.float32), "person", model, k=5)
        )
        assert hits and hits[0].tracklet == tracklet
    finally:
        reader.close()
