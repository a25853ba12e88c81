"""The indexer (``python -m services.indexer.main``) on the real broker and SQLite: track
updates, plate reads, appearances and traffic bins all reach the store, once, and
undecodable input goes to the DLQ."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from civicsight.bus import KafkaPublisher
from civicsight.events import Appearance, PlateRead, TrackletRef, TrackUpdate, TrafficBins
from civicsight.traffic import CountBin, bin_start

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[5]


def counts(db: Path, camera: str) -> tuple[int, int, int, int]:
    if not db.exists():
        return (0, 0, 0, 0)
    con = sqlite3.connect(db, timeout=5)
    queries = [
        ("SELECT count(*) FROM track_versions WHERE track_id LIKE ?", f"{camera}%"),
        ("SELECT count(*) FROM plate_reads WHERE camera_id = ?", camera),
        ("SELECT count(*) FROM sightings WHERE camera_id = ?", camera),
        ("SELECT coalesce(sum(count), 0) FROM traffic_counts WHERE camera = ?", camera),
    ]
    try:
        a, b, c, d = (con.execute(sql, (arg,)).fetchone()[0] for sql, arg in queries)
        return (a, b, c, d)
    except sqlite3.OperationalError:  # schema not created yet
        return (0, 0, 0, 0)
    finally:
        con.close()


def test_indexer_stores_every_kind_once_and_dead_letters_garbage(
    kafka: dict[str, str], tmp_path: Path
) -> None:
    """Guards plate reads, appearances or traffic bins never reaching the store (no plate
    or image search, no traffic numbers), duplicates when events are delivered twice (a
    traffic bin summed instead of replaced), and a crash on bad input."""
    cam = f"idx-{uuid.uuid4().hex[:8]}"
    now = time.time()
    events = [
        TrackUpdate(
            track_id=f"{cam}-t{v}",
            version=1,
            cls="car",
            tracklets=(TrackletRef(camera_id=cam, track_id=v, first_seen=now, last_seen=now),),
            first_seen=now,
            last_seen=now,
            emitted_at=now,
        )
        for v in range(3)
    ]
    plates = [PlateRead(camera_id=cam, track_id=1, captured_at=now, text="AB123CD", conf=0.9)]
    looks = [
        Appearance(
            camera_id=cam,
            track_id=1,
            captured_at=now,
            cls="car",
            quality=0.7,
            model="m@1",
            embedding=(0.5,) * 16,
        )
    ]
    b = bin_start(now)
    traffic = [  # a bin as it fills: the second message replaces the first
        TrafficBins.of(
            cam,
            [CountBin(bin_start=b, camera=cam, rule="l1", direction="in", cls="car", count=n)],
            now + n,
        )
        for n in (2, 5)
    ]
    pub = KafkaPublisher(kafka, "test")
    for _ in range(2):  # delivered twice
        for e in events:
            pub.publish("track_updates", e.track_id, e)
        for p in plates:
            pub.publish("plate_reads", cam, p)
        for a in looks:
            pub.publish("appearances", cam, a)
        for t in traffic:
            pub.publish("traffic_bins", cam, t)
    pub.publish_raw("plate_reads", cam, b'{"race": "x"}')
    pub.flush()

    data = tmp_path / "data"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CIVICSIGHT_KAFKA_BOOTSTRAP": kafka["bootstrap.servers"],
        "CIVICSIGHT_DATA_DIR": str(data),
    }
    log = tmp_path / "indexer.log"
    with log.open("wb") as out:
        service = subprocess.Popen(
            [sys.executable, "-m", "civicsight.services.indexer.main"],
            env=env,
            stderr=out,
            cwd=REPO,
        )
    dlq = Consumer({**kafka, "group.id": f"check-{cam}", "auto.offset.reset": "earliest"})
    dlq.subscribe(["plate_reads.dlq"])
    try:
        deadline = time.monotonic() + 60
        dead = []
        while time.monotonic() < deadline:
            assert service.poll() is None, log.read_text()[-3000:]
            msg = dlq.poll(0.5)
            if msg is not None and not msg.error() and msg.key() == cam.encode():
                dead.append(dict(msg.headers() or []))
            if counts(data / "tracks.db", cam) == (3, 1, 1, 5) and dead:
                break
        time.sleep(1.0)  # the second delivery is in by now; nothing may have doubled
        assert counts(data / "tracks.db", cam) == (3, 1, 1, 5)
        assert len(dead) == 1 and b"race" in dead[0]["dlq.reason"]
    finally:
        dlq.close()
        service.send_signal(signal.SIGTERM)
        assert service.wait(20) == 0, log.read_text()[-3000:]
