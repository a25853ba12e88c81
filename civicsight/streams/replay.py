"""``civicsight replay SCENARIO_DIR``: a multi-camera scenario through the real broker and
stream app, with one prediction line per tracklet at the end.

The scenario's events are mapped onto the hub's own (``streams.scenario``) and published
to ``detections``, ``appearances`` and ``plate_reads`` keyed by camera, as the perception
services would. A stream worker (``python -m streams.app``) runs beside it with the
scenario's camera graph, on the embedded tansu broker unless ``CIVICSIGHT_KAFKA_BOOTSTRAP``
names a cluster; it is restarted if it dies. The replay reads ``track_updates`` and
finishes when every confirmed tracklet (``min_detections`` boxes or more) has been given
a global track and no update came for a moment. Tracklets the join never saw (flicker,
plate or face lines only) are their own track in the predictions.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from civicsight.bus import KafkaPublisher, KafkaSubscriber, ensure_topics
from civicsight.events import (
    Appearance,
    FrameDetections,
    PlateRead,
    TrackUpdate,
    global_track_id,
    tracklet_id,
)
from civicsight.settings import HubSettings
from civicsight.stack import EmbeddedBroker
from civicsight.streams.scenario import (
    ReadStats,
    Scenario,
    ScenarioError,
    open_scenario,
    read_events,
)
from civicsight.streams.tracklets import DEFAULT_MIN_DETECTIONS, DEFAULT_TIMEOUT

ROOT = Path(__file__).resolve().parents[2]  # the folder holding the package
TOPIC_OF = {FrameDetections: "detections", Appearance: "appearances", PlateRead: "plate_reads"}


@dataclass
class Tracks:
    """What the replay learnt from ``track_updates`` (filled by the reader thread)."""

    since: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    latest: dict[str, TrackUpdate] = field(default_factory=dict)
    first_decided: dict[str, float] = field(default_factory=dict)
    """tracklet key -> wall time it first appeared in a global track"""
    last_update: float = 0.0
    received: int = 0

    def add(self, update: TrackUpdate, at: float) -> None:
        if not update.track_id.startswith("g-") or update.emitted_at < self.since:
            return
        with self.lock:
            self.received += 1
            self.last_update = at
            old = self.latest.get(update.track_id)
            if old is None or update.version > old.version:
                self.latest[update.track_id] = update
            for ref in update.tracklets:
                self.first_decided.setdefault(tracklet_id(ref.camera_id, ref.track_id), at)

    def owners(self) -> dict[str, str]:
        """tracklet key -> global track id: the live track whose latest version lists it
        (the most recently emitted one, if two do while a change is in flight)."""
        with self.lock:
            best: dict[str, tuple[float, str]] = {}
            for u in self.latest.values():
                if u.merged_into is not None:
                    continue
                for ref in u.tracklets:
                    key = tracklet_id(ref.camera_id, ref.track_id)
                    if key not in best or u.emitted_at > best[key][0]:
                        best[key] = (u.emitted_at, u.track_id)
            return {k: v[1] for k, v in best.items()}


class Worker:
    """The stream worker as a supervised child process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "civicsight.streams.app"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            self.restarts += 1
            print(f"stream worker exited ({self.proc.returncode}); restarting", flush=True)
            self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextmanager
def kafka(settings: HubSettings, workdir: Path) -> Iterator[dict[str, str]]:
    if "kafka_bootstrap" in settings.model_fields_set:
        yield settings.kafka_config()
        return
    with EmbeddedBroker(log_file=workdir / "broker.log") as broker:
        yield {"bootstrap.servers": broker.bootstrap}


def read_updates(config: dict[str, str], tracks: Tracks, stop: threading.Event) -> None:
    dlq = KafkaPublisher(config, "replay-reader")
    sub = KafkaSubscriber(config, f"replay-reader-{uuid.uuid4().hex[:8]}", ["track_updates"], dlq)
    try:
        while not stop.is_set():
            got = sub.poll_batch(500, 0.2)
            now = time.time()
            for r in got:
                if isinstance(r.event, TrackUpdate):
                    tracks.add(r.event, now)
            sub.done(got)
    finally:
        sub.close()
        dlq.close()


def _speed(value: str) -> float:
    if value == "max":
        return 0.0
    speed = float(value)
    if speed <= 0:
        raise argparse.ArgumentTypeError("speed must be max or a positive number")
    return speed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="civicsight replay", description=__doc__.split("\n")[0])
    parser.add_argument("scenario", type=Path, help="scenario folder (FORMAT.md)")
    parser.add_argument(
        "--speed", type=_speed, default=0.0, help="max (default), 1, or N times real time"
    )
    parser.add_argument("--predictions", type=Path, help="write one JSON line per tracklet here")
    parser.add_argument("--no-worker", action="store_true", help="a stream worker runs elsewhere")
    parser.add_argument("--app-id", help="stream app id for the worker (default: a fresh one)")
    parser.add_argument("--worker-log", type=Path, help="keep the stream worker's log here")
    parser.add_argument("--wait", type=float, default=120.0, help="longest wait at the end (s)")
    args = parser.parse_args(argv)
    try:
        scenario = open_scenario(args.scenario)
    except ScenarioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    settings = HubSettings()
    with tempfile.TemporaryDirectory(prefix="civicsight-replay-") as tmp:
        workdir = Path(tmp)
        with kafka(settings, workdir) as config:
            return _replay(args, scenario, config, workdir)


def _replay(
    args: argparse.Namespace, scenario: Scenario, config: dict[str, str], workdir: Path
) -> int:
    ensure_topics(config)
    started = time.time()
    tracks = Tracks(since=started - 1)
    stop = threading.Event()
    reader = threading.Thread(target=read_updates, args=(config, tracks, stop), daemon=True)
    reader.start()
    worker: Worker | None = None
    if not args.no_worker:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "CIVICSIGHT_KAFKA_BOOTSTRAP": config["bootstrap.servers"],
            "CIVICSIGHT_CAMERA_GRAPH": str(scenario.root.resolve() / "cameras.json"),
            "CIVICSIGHT_JOIN_EMBEDDING_DIM": str(scenario.embedding_dim),
            "CIVICSIGHT_STREAMS_APP_ID": args.app_id or f"replay-{uuid.uuid4().hex[:8]}",
            "CIVICSIGHT_DATA_DIR": str(workdir / "data"),
        }
        env.setdefault("CIVICSIGHT_LOG_LEVEL", "WARNING")
        worker = Worker(env, args.worker_log or workdir / "worker.log")
        if args.speed:
            worker.start()  # live pace: the worker consumes as events come
    pub = KafkaPublisher(config, "replay")
    stats = ReadStats()
    detections: dict[str, int] = {}
    last_seen_wall: dict[str, float] = {}
    published = 0
    t0: float | None = None
    wall0 = time.time()
    next_report = wall0 + 2
    try:
        try:
            for event in read_events(scenario, stats):
                at = event.captured_at  # type: ignore[attr-defined]
                if args.speed:
                    t0 = at if t0 is None else t0
                    delay = wall0 + (at - t0) / args.speed - time.time()
                    if delay > 0:
                        time.sleep(delay)
                topic_name = TOPIC_OF[type(event)]
                pub.publish_raw(topic_name, event.camera_id, event.to_bytes())  # type: ignore[attr-defined]
                published += 1
                if isinstance(event, FrameDetections):
                    now = time.time()
                    for box in event.boxes:
                        key = tracklet_id(event.camera_id, box.track_id or 0)
                        detections[key] = detections.get(key, 0) + 1
                        last_seen_wall[key] = now
                if time.time() >= next_report:
                    next_report += 2
                    _progress(published, stats.lines, wall0, tracks, worker)
        except ScenarioError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        pub.flush(60)
        publish_s = time.time() - wall0
        if worker is not None and worker.proc is None:
            # at full speed the worker starts once everything is on the broker: its reads
            # then never race the producer across topics (see streams.app, "hold")
            worker.start()
        print(
            f"published {published} events ({stats.lines} scenario lines, {stats.dropped_faces} "
            f"face lines dropped) in {publish_s:.1f}s",
            flush=True,
        )
        expected = {k for k, n in detections.items() if n >= DEFAULT_MIN_DETECTIONS}
        done_at = _wait(expected, tracks, worker, args.wait)
        elapsed = done_at - wall0
    finally:
        stop.set()
        reader.join(10)
        pub.close()
        if worker is not None:
            worker.stop()
    owners = tracks.owners()
    decided = expected & owners.keys()
    if worker is not None and decided != expected and worker.log.exists():
        tail = worker.log.read_text(errors="replace")[-3000:]
        print(f"stream worker log (end):\n{tail}", file=sys.stderr)
    lines_per_s = stats.lines / elapsed if elapsed > 0 else 0.0
    print(
        f"done: {stats.lines} scenario events in {elapsed:.1f}s wall ({lines_per_s:.0f} events/s), "
        f"{len(decided)}/{len(expected)} confirmed tracklets joined, "
        f"{len(stats.tracklets)} tracklets seen"
        + (f", worker restarts: {worker.restarts}" if worker else ""),
        flush=True,
    )
    latencies = [
        tracks.first_decided[k] - last_seen_wall[k]
        for k in decided
        if k in last_seen_wall and tracks.first_decided[k] >= last_seen_wall[k]
    ]
    if latencies:
        q = statistics.quantiles(latencies, n=20)
        print(
            f"latency, tracklet's last event -> its global track: p50 "
            f"{statistics.median(latencies):.2f}s, p95 {q[18]:.2f}s ({len(latencies)} tracklets)",
            flush=True,
        )
    if args.predictions:
        with args.predictions.open("w") as f:
            for camera, track in sorted(stats.tracklets):
                key = tracklet_id(camera, track)
                gid = owners.get(key, global_track_id(camera, track))
                f.write(
                    json.dumps({"camera_id": camera, "local_track_id": key, "global_track_id": gid})
                    + "\n"
                )
        print(f"predictions: {args.predictions} ({len(stats.tracklets)} lines)", flush=True)
    return 0 if decided == expected else 1


def _progress(
    published: int, lines: int, wall0: float, tracks: Tracks, worker: Worker | None
) -> None:
    if worker is not None:
        worker.check()
    dt = time.time() - wall0
    print(
        f"  {dt:5.1f}s  {lines} scenario lines, {published} events published "
        f"({lines / dt:.0f}/s), {len(tracks.first_decided)} tracklets joined",
        flush=True,
    )


def _wait(expected: set[str], tracks: Tracks, worker: Worker | None, limit: float) -> float:
    """Until every expected tracklet is in a global track and updates paused; returns when."""
    deadline = time.time() + limit
    settle = DEFAULT_TIMEOUT
    next_report = time.time() + 2
    while time.time() < deadline:
        if worker is not None:
            worker.check()
        with tracks.lock:
            missing = len(expected - tracks.first_decided.keys())
            quiet = time.time() - tracks.last_update
        if missing == 0 and quiet >= 1.0:
            return tracks.last_update
        if time.time() >= next_report:
            next_report += 2
            print(f"  waiting: {missing} confirmed tracklets not joined yet", flush=True)
        time.sleep(0.1 if missing else min(0.2, settle))
    print(f"gave up waiting after {limit:.0f}s", flush=True)
    return time.time()


if __name__ == "__main__":
    raise SystemExit(main())
