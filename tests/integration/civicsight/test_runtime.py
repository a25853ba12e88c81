"""The service runtime on the real tansu broker, with the smallest service on it
(``blank_detect.py``: frames in, detections without boxes out): outputs published and
dead letters sent, offsets committed only after a batch's outputs are delivered (kill -9
loses nothing), SIGTERM finishing the batch in hand, backpressure pausing and resuming
the partitions, heartbeats, and a non-zero exit when messages cannot be delivered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from civicsight.bus import KafkaPublisher, KafkaSubscriber, ensure_topics
from civicsight.events import DecodeError, Frame, FrameDetections, Heartbeat
from civicsight.runtime import BATCHES, PAUSES, RESUMES, Backpressure, Tally, serve
from civicsight.stack import EmbeddedBroker, free_port
from tests.integration.civicsight.blank_detect import BlankDetect, BlankSettings

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[3]
JPEG = cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8))[1].tobytes()


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A broker of this module's own: the blank service reads ``frames`` from the start,
    and the tests count its batches and dead letters, so frames other tests left on the
    session's broker (undecodable ones included) must not be there."""
    log = tmp_path_factory.mktemp("runtime-broker") / "broker.log"
    with EmbeddedBroker(log_file=log) as broker:
        config = {"bootstrap.servers": broker.bootstrap}
        ensure_topics(config)
        yield config


def frame(camera: str, seq: int, jpeg: bytes = JPEG) -> Frame:
    return Frame(camera_id=camera, seq=seq, captured_at=time.time(), width=16, height=16, jpeg=jpeg)


def send_frames(kafka: dict[str, str], camera: str, count: int) -> None:
    pub = KafkaPublisher(kafka, "runtime-test")
    for seq in range(count):
        pub.publish("frames", camera, frame(camera, seq))
    pub.close()


def start(kafka: dict[str, str], tmp: Path, group: str, **settings: str) -> subprocess.Popen[bytes]:
    """The blank service as its own process (``python -m ...``), logging to tmp/<group>.log."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CIVICSIGHT_KAFKA_BOOTSTRAP": kafka["bootstrap.servers"],
        "CIVICSIGHT_DATA_DIR": str(tmp / "data"),
        "CIVICSIGHT_BLANK_GROUP": group,
        **{f"CIVICSIGHT_{k.upper()}": v for k, v in settings.items()},
    }
    with (tmp / f"{group}.log").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integration.civicsight.blank_detect"],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


class Watch:
    """Reads a topic from its start (its own group), keeping the events of one key."""

    def __init__(self, kafka: dict[str, str], topic: str, key: str) -> None:
        self.dlq = KafkaPublisher(kafka, "runtime-watch")
        self.sub = KafkaSubscriber(kafka, f"watch-{uuid.uuid4().hex[:8]}", [topic], self.dlq)
        self.key = key
        self.events: list[object] = []

    def read(self, seconds: float = 0.5) -> list[object]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            batch = self.sub.poll_batch(100, 0.2)
            self.sub.done(batch)
            self.events += [r.event for r in batch if r.key == self.key]
        return self.events

    def until(self, enough: int, timeout: float = 60.0) -> list[object]:
        deadline = time.monotonic() + timeout
        while len(self.events) < enough and time.monotonic() < deadline:
            self.read(0.3)
        return self.events

    def until_seqs(self, want: set[int], timeout: float = 60.0) -> set[int]:
        deadline = time.monotonic() + timeout
        while set(seqs(self.events)) != want and time.monotonic() < deadline:
            self.read(0.3)
        return set(seqs(self.events))

    def close(self) -> None:
        self.sub.close()
        self.dlq.close()


def seqs(events: list[object]) -> list[int]:
    return sorted(e.seq for e in events if isinstance(e, FrameDetections))


def frame_offsets(kafka: dict[str, str], camera: str, count: int) -> dict[int, tuple[int, int]]:
    """Where each of the camera's frames lies: seq -> (partition, offset)."""
    consumer = Consumer({**kafka, "group.id": f"where-{uuid.uuid4().hex[:8]}"})
    consumer.assign([TopicPartition("frames", p, OFFSET_BEGINNING) for p in range(6)])
    found: dict[int, tuple[int, int]] = {}
    deadline = time.monotonic() + 30
    while len(found) < count and time.monotonic() < deadline:
        for msg in consumer.consume(500, 0.3):
            if msg.error() or msg.key() != camera.encode():
                continue
            try:
                seq = Frame.from_bytes(msg.value()).seq
            except DecodeError:
                continue
            found[seq] = (msg.partition() or 0, msg.offset() or 0)
    consumer.close()
    assert len(found) == count
    return found


class Commits:
    """A group's committed offsets on frames, asked without joining the group."""

    def __init__(self, kafka: dict[str, str], group: str) -> None:
        self.consumer = Consumer({**kafka, "group.id": group})

    def on(self, partition: int) -> int:
        """The committed offset on a partition (-1: none yet)."""
        (tp,) = self.consumer.committed([TopicPartition("frames", partition)], timeout=10)
        return tp.offset if tp.offset >= 0 else -1

    def close(self) -> None:
        self.consumer.close()


def committed(kafka: dict[str, str], group: str, partition: int) -> int:
    commits = Commits(kafka, group)
    try:
        return commits.on(partition)
    finally:
        commits.close()


def below(where: dict[int, tuple[int, int]], offset: int) -> set[int]:
    """The seqs of the frames before a committed offset."""
    return {seq for seq, (_, at) in where.items() if at < offset}


@pytest.fixture
def camera() -> str:
    return f"rt-{uuid.uuid4().hex[:8]}"


def test_outputs_dead_letters_and_a_clean_stop(
    kafka: dict[str, str], tmp_path: Path, camera: str
) -> None:
    """Guards the runtime's whole path: each frame's output on the declared topic keyed as
    the service said, undecodable input (bad JSON from the subscriber, a bad JPEG from
    the service) on frames.dlq with its reason, heartbeats from the process, and a
    SIGTERM that exits 0 with everything handled committed."""
    send_frames(kafka, camera, 6)
    pub = KafkaPublisher(kafka, "runtime-test")
    pub.publish_raw("frames", camera, b"not json")
    pub.publish("frames", camera, frame(camera, 6, jpeg=b"\xff\xd8 not a jpeg"))
    pub.close()
    group = f"blank-{uuid.uuid4().hex[:8]}"
    proc = start(kafka, tmp_path, group)
    out = Watch(kafka, "detections", camera)
    dead = Consumer({**kafka, "group.id": f"d-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    dead.assign([TopicPartition("frames.dlq", 0, 0)])
    beats = Watch(kafka, "heartbeats", "blank")
    try:
        assert seqs(out.until(6)) == list(range(6)), (tmp_path / f"{group}.log").read_text()
        reasons: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(reasons) < 2 and time.monotonic() < deadline:
            msg = dead.poll(0.5)
            if msg is not None and not msg.error() and msg.key() == camera.encode():
                reasons.append(dict(msg.headers() or [])["dlq.reason"])
        assert len(reasons) == 2 and b"frame JPEG cannot be decoded" in reasons
        mine = [
            b
            for b in beats.until(100, timeout=8)
            if isinstance(b, Heartbeat) and b.instance.endswith(f":{proc.pid}")
        ]
        assert mine and mine[-1].processed >= 1 and set(mine[-1].lag) <= {"frames"}
    finally:
        out.close()
        dead.close()
        beats.close()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    log = (tmp_path / f"{group}.log").read_text()
    assert code == 0, log
    assert "blank stopped: " in log and "dead_letters 2" in log
    where = frame_offsets(kafka, camera, 7)
    partition = where[0][0]
    assert committed(kafka, group, partition) == max(at for _, at in where.values()) + 1


def test_kill_9_mid_batch_loses_nothing(kafka: dict[str, str], tmp_path: Path, camera: str) -> None:
    """Guards against committing before a batch's outputs are out: killed (no clean-up
    at all) right after a commit, while a batch is in hand, the process has committed no
    frame whose output was not published, and a restart in the same group publishes
    every remaining one."""
    send_frames(kafka, camera, 20)
    where = frame_offsets(kafka, camera, 20)
    partition = where[0][0]
    group = f"blank-{uuid.uuid4().hex[:8]}"
    out = Watch(kafka, "detections", camera)
    commits = Commits(kafka, group)
    proc = start(kafka, tmp_path, group, blank_work_s="1.0")  # 4 s a batch of 4
    try:
        deadline = time.monotonic() + 60
        while commits.on(partition) < 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # offsets are committed every 5 s
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        seen = set(seqs(out.read(1.5)))
        at_kill = commits.on(partition)
        commits.close()
        assert at_kill >= 0 and 0 < len(seen) < 20, (tmp_path / f"{group}.log").read_text()
        assert below(where, at_kill) <= seen  # never committed ahead of its outputs
        proc = start(kafka, tmp_path, group)  # the same group: from the committed offset
        assert out.until_seqs(set(range(20))) == set(range(20))
    finally:
        out.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, (tmp_path / f"{group}.log").read_text()


def test_sigterm_finishes_the_batch_in_hand(
    kafka: dict[str, str], tmp_path: Path, camera: str
) -> None:
    """Guards a stop that drops the batch being handled, or commits it unpublished: after
    SIGTERM mid-batch the process exits 0, and the frames committed are exactly those
    whose outputs were published."""
    send_frames(kafka, camera, 12)
    where = frame_offsets(kafka, camera, 12)
    group = f"blank-{uuid.uuid4().hex[:8]}"
    out = Watch(kafka, "detections", camera)
    proc = start(kafka, tmp_path, group, blank_work_s="0.4")
    try:
        out.until(1, timeout=60)
        time.sleep(0.5)  # into the next batch
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, (tmp_path / f"{group}.log").read_text()
        published = set(seqs(out.read(1.5)))
    finally:
        out.close()
        if proc.poll() is None:
            proc.kill()
    assert 4 <= len(published) < 12
    assert below(where, committed(kafka, group, where[0][0])) == published


class Pressed(BlankDetect):
    """The blank service pausing as soon as a batch's output waits undelivered (a
    heartbeat alone does not pause it)."""

    backpressure = Backpressure(pause_at=2, resume_at=0)


def run_in_thread(
    service: BlankDetect, kafka: dict[str, str], heartbeat_s: float
) -> tuple[threading.Thread, threading.Event, Tally]:
    tally = Tally()
    stop = threading.Event()
    runner = threading.Thread(target=serve, args=(service, kafka, stop, tally, heartbeat_s))
    runner.start()
    return runner, stop, tally


def test_backpressure_pauses_and_resumes_the_partitions(
    kafka: dict[str, str], tmp_path: Path, camera: str
) -> None:
    """Guards a service that keeps fetching while its output is not delivered (memory
    grows without bound), one whose pause never lifts, and frames lost or fetched twice
    across a pause."""
    send_frames(kafka, camera, 20)
    settings = BlankSettings(blank_group=f"blank-{uuid.uuid4().hex[:8]}", data_dir=tmp_path)
    slow = {**kafka, "linger.ms": "1000"}  # deliveries take a second: a long pause each time
    out = Watch(kafka, "detections", camera)
    runner, stop, tally = run_in_thread(Pressed(settings), slow, heartbeat_s=5.0)
    try:
        got = seqs(out.until(20, timeout=60))
    finally:
        stop.set()
        runner.join(30)
        out.close()
    assert not runner.is_alive()
    assert got == list(range(20))  # each once: nothing lost or fetched twice by a pause
    assert tally.totals[PAUSES] >= 4 and tally.totals[RESUMES] >= 4
    # a batch (4 outputs) pauses the input; nothing is fetched until it resumes
    assert tally.totals[BATCHES] <= tally.totals[RESUMES] + 1


def test_heartbeats_carry_counts_and_lag(
    kafka: dict[str, str], tmp_path: Path, camera: str
) -> None:
    """Guards the service health page: every service on the runtime sends heartbeats
    with its instance, what it has handled and its input lag."""
    send_frames(kafka, camera, 5)
    settings = BlankSettings(blank_group=f"blank-{uuid.uuid4().hex[:8]}", data_dir=tmp_path)
    service = BlankDetect(settings)
    beats = Watch(kafka, "heartbeats", "blank")
    runner, stop, _ = run_in_thread(service, kafka, heartbeat_s=0.5)
    try:
        heard: list[Heartbeat] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (heard and heard[-1].processed >= 5):
            heard = [b for b in beats.read(0.5) if isinstance(b, Heartbeat)]
            if heard:  # this run's (an earlier one in this process has the same instance)
                run = (heard[-1].instance, heard[-1].started_at)
                heard = [b for b in heard if (b.instance, b.started_at) == run]
    finally:
        stop.set()
        runner.join(30)
        beats.close()
    assert len(heard) >= 2 and heard[-1].processed >= 5
    assert [b.processed for b in heard] == sorted(b.processed for b in heard)
    assert all(set(b.lag) <= {"frames"} for b in heard)


def test_undeliverable_messages_make_the_exit_non_zero(tmp_path: Path) -> None:
    """Guards a service exiting 0 while what it sent never reached a broker."""
    dead_broker = {"bootstrap.servers": f"127.0.0.1:{free_port()}"}
    proc = start(dead_broker, tmp_path, "blank-nowhere")
    time.sleep(4)  # a heartbeat is queued by now
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(40)
    log = (tmp_path / "blank-nowhere.log").read_text()
    assert code != 0, log
    assert "UnsentMessagesError" in log
