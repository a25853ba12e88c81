"""``civicsight bench latency --cameras 4 --seconds 120 --json``: capture -> track in store,
stage by stage, on a running hub.

Each round starts a hub of its own (``civicsight.bench.hub``) and reads, beside it, the
``frames`` and ``detections`` topics. Every stored version of an open track names the
capture time of its newest frame, so its frame can be followed through the stages:

- ``ingest``: capture -> frame published by the ingest service;
- ``detect``: frame published -> detections of that frame (fetch, batching, decoding,
  inference, tracking);
- ``stream``: detections -> track version emitted by the stream app (fetch, batching,
  tracklet processing);
- ``indexer``: emitted -> stored (fetch, store write);
- ``total``: capture -> stored.

These are the live versions: what the tracklet stage sends as frames come in. Versions of
the cross-camera join's tracks (``g-``) are decided after a settle window by design; their
capture -> stored time is reported apart, as ``joined``.

The first ``--warm-up`` seconds after the first stored version are left out (models
compile, consumer groups settle). Each stage reports p50 / p95 / p99 of each round and
their median over the rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from civicsight.bench.hub import demo_hub, demo_media, wait_first_version
from civicsight.bench.output import cpu_info, emit
from civicsight.bus import KafkaPublisher, KafkaSubscriber
from civicsight.events import JOINED_TRACK_PREFIX, Frame, FrameDetections
from civicsight.stack import stop_process
from civicsight.traffic import percentile

STAGES = ("ingest", "detect", "stream", "indexer", "total", "joined")
QUANTILES = (50, 95, 99)


def _key(captured_at: float) -> int:
    """Capture times as they are matched across events: whole microseconds."""
    return round(captured_at * 1e6)


@dataclass
class Observed:
    """What the tap saw: per (camera, frame seq), when the frame was captured and
    published; per capture time, when that frame's detections were made and published."""

    frames: dict[tuple[str, int], tuple[float, float]] = field(default_factory=dict)
    detections: dict[int, tuple[str, int, float]] = field(default_factory=dict)


def stage_samples(
    seen: Observed, versions: Iterable[tuple[str, float, float, float]], since: float
) -> dict[str, list[float]]:
    """Seconds spent in each stage by the frames behind stored versions (track id, last
    seen, emitted, stored) captured at ``since`` or later. A version whose frame the tap
    did not see counts in ``indexer`` and ``total`` only; a joined track's only in
    ``joined``."""
    out: dict[str, list[float]] = {s: [] for s in STAGES}
    for track_id, last_seen, emitted, stored in versions:
        if last_seen < since:
            continue
        if track_id.startswith(JOINED_TRACK_PREFIX):
            out["joined"].append(stored - last_seen)
            continue
        out["indexer"].append(stored - emitted)
        out["total"].append(stored - last_seen)
        found = seen.detections.get(_key(last_seen))
        if found is None:
            continue
        camera, seq, detections_sent = found
        out["stream"].append(emitted - detections_sent)
        frame = seen.frames.get((camera, seq))
        if frame is not None:
            captured, frame_sent = frame
            out["ingest"].append(frame_sent - captured)
            out["detect"].append(detections_sent - frame_sent)
    return out


Summary = dict[str, float | int | None]


def summary(samples: Sequence[float]) -> Summary:
    """p50 / p95 / p99 in milliseconds (None without samples), and the sample count."""
    ordered = sorted(samples)
    out: Summary = {"n": len(ordered)}
    for q in QUANTILES:
        value = percentile(ordered, q)
        out[f"p{q}_ms"] = None if value is None else round(1000 * value, 1)
    return out


def median_of_rounds(rounds: Sequence[Mapping[str, Summary]]) -> dict[str, Summary]:
    """Per stage and figure, the median over the rounds that have it; samples summed."""
    out: dict[str, Summary] = {}
    for stage in STAGES:
        figures: Summary = {}
        for q in QUANTILES:
            values = [v for r in rounds if (v := r[stage][f"p{q}_ms"]) is not None]
            figures[f"p{q}_ms"] = round(statistics.median(values), 1) if values else None
        figures["n"] = sum(int(r[stage]["n"] or 0) for r in rounds)
        out[stage] = figures
    return out


class Tap(threading.Thread):
    """Reads ``frames`` and ``detections`` from the hub's broker into ``Observed``."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True, name="tap")
        config = {"bootstrap.servers": bootstrap}
        self._dlq = KafkaPublisher(config, "bench-latency")
        self._subscriber = KafkaSubscriber(
            config, f"bench-latency-{os.getpid()}", ("frames", "detections"), self._dlq
        )
        self.seen = Observed()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            batch = self._subscriber.poll_batch(500, 0.2)
            for r in batch:
                sent = r.message.timestamp()[1] / 1000
                if isinstance(r.event, Frame):
                    self.seen.frames[(r.event.camera_id, r.event.seq)] = (
                        r.event.captured_at,
                        sent,
                    )
                elif isinstance(r.event, FrameDetections):
                    self.seen.detections[_key(r.event.captured_at)] = (
                        r.event.camera_id,
                        r.event.seq,
                        sent,
                    )
            self._subscriber.done(batch)

    def stop(self) -> None:
        self._halt.set()
        self.join(10)
        self._subscriber.close()


def one_round(cameras: int, seconds: float, warm_up: float, media: Path) -> dict:
    """Run a hub for ``seconds`` after its first stored track version (plus ``warm_up``);
    the stage samples of what it stored after the warm-up."""
    from civicsight.store.sqlite import SqliteTrackStore

    with demo_hub(cameras, media) as hub:
        tap = Tap(hub.bootstrap)
        try:
            tap.start()
            first = wait_first_version(hub, timeout=300)
            print(f"  first track version stored; measuring {seconds:.0f} s", file=sys.stderr)
            time.sleep(warm_up + seconds)
        finally:
            stop_process(hub.process)
            tap.stop()
        store = SqliteTrackStore(hub.store_file)
        store.open()
        versions = store.version_times()
        store.close()
        samples = stage_samples(tap.seen, versions, first + warm_up)
        if not samples["total"]:
            raise RuntimeError("no track stored after the warm-up (hub log kept in /tmp)")
        return {stage: summary(values) for stage, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="civicsight bench latency", description=__doc__)
    parser.add_argument("--cameras", type=int, default=4, help="cameras (demo videos), >= 1")
    parser.add_argument("--seconds", type=float, default=120.0, help="measured time per round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--warm-up", type=float, default=20.0, help="seconds left out first")
    parser.add_argument("--json", action="store_true", help="one-line JSON")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    if args.cameras < 1 or args.rounds < 1 or args.seconds <= 0:
        parser.error("--cameras, --rounds and --seconds must be positive")
    media = demo_media()
    rounds = []
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}: starting a hub ...", file=sys.stderr, flush=True)
        rounds.append(one_round(args.cameras, args.seconds, args.warm_up, media))
    result = {
        "stages_ms": median_of_rounds(rounds),
        "rounds": rounds,
        "cameras": args.cameras,
        "seconds": args.seconds,
        "warm_up_s": args.warm_up,
        "cpu": cpu_info(),
    }
    emit(result, args.json, args.out)


if __name__ == "__main__":
    main()
