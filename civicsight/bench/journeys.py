"""``civicsight bench journeys --tracks N --json``: how fast the SQLite store answers
journey times and origin-destination, computed at read time, over N cross-camera tracks.

The world: 20 cameras on a 5 x 4 street grid, tracks spread evenly over ``--days`` days
(100k tracks over 7 days: about 150 per 15-minute bin), 60 % vehicles, each a walk of 1
to 5 visits between neighbouring cameras (transit 30 s to 5 min, 5 to 40 s in view). As
the stream app publishes them, every tracklet also has its own ``t-`` track, a fifth of
the tracks were revised once (a later version with one more visit) and one in fifty was
merged into another (``merged_into``): the read has to skip all of those.

Timed (store calls only; the queries are the API's): one bin, one day (96 bins) for all
cameras and for one camera, and the whole period; journeys and OD each, p50 and p95 over
``--queries`` random windows.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from civicsight.bench.output import cpu_name, emit, store_options
from civicsight.bench.search import percentiles
from civicsight.events import TrackletRef, TrackUpdate, global_track_id
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.traffic import BIN_S, TrafficQuery, bin_start

T0 = 1_790_000_100.0
DAY_S = 86_400
GRID = (5, 4)
CAMERAS = [f"cam-{x}{y}" for x in range(GRID[0]) for y in range(GRID[1])]
VEHICLES = ("car", "car", "car", "truck", "bus", "motorcycle")


def neighbours(camera: str) -> list[str]:
    x, y = int(camera[-2]), int(camera[-1])
    near = [(x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)]
    return [f"cam-{a}{b}" for a, b in near if 0 <= a < GRID[0] and 0 <= b < GRID[1]]


def joined(
    track: str, v: int, cls: str, legs: list[TrackletRef], merged: str | None = None
) -> TrackUpdate:
    """A version of one of the join's tracks."""
    return TrackUpdate(
        track_id=track,
        version=v,
        cls=cls,
        tracklets=tuple(legs),
        first_seen=legs[0].first_seen,
        last_seen=legs[-1].last_seen,
        closed=merged is not None,
        merged_into=merged,
        emitted_at=legs[-1].last_seen + 5 + v,
    )


def world(n: int, days: float, seed: int) -> list[TrackUpdate]:
    """The track versions the stream app would publish for ``n`` joined tracks."""
    rng = random.Random(seed)
    out: list[TrackUpdate] = []
    for i in range(n):
        cls = "person" if rng.random() < 0.4 else rng.choice(VEHICLES)
        t = T0 + rng.random() * days * DAY_S
        camera = rng.choice(CAMERAS)
        refs = []
        for leg in range(rng.choices((1, 2, 3, 4, 5), weights=(3, 3, 2, 1, 1))[0]):
            stay = rng.uniform(5, 40)
            number = 8 * i + leg  # a tracker id: unique per camera
            refs.append(
                TrackletRef(camera_id=camera, track_id=number, first_seen=t, last_seen=t + stay)
            )
            t += stay + rng.uniform(30, 300)
            camera = rng.choice(neighbours(camera))
        for r in refs:
            out.append(
                TrackUpdate(
                    track_id=global_track_id(r.camera_id, r.track_id),
                    version=1,
                    cls=cls,
                    tracklets=(r,),
                    first_seen=r.first_seen,
                    last_seen=r.last_seen,
                    closed=True,
                    emitted_at=r.last_seen + 5,
                )
            )

        track = f"g-{i:016x}"
        if len(refs) > 1 and rng.random() < 0.2:
            out.append(joined(track, 1, cls, refs[:-1]))
            out.append(joined(track, 2, cls, refs))
        elif rng.random() < 0.02:
            out.append(joined(track, 1, cls, refs, merged=f"g-{max(0, i - 1):016x}"))
        else:
            out.append(joined(track, 1, cls, refs))
    return out


def timed(call: Any, query: TrafficQuery) -> tuple[float, int]:
    started = time.perf_counter()
    rows = call(query)
    return time.perf_counter() - started, len(rows)


def run(args: argparse.Namespace) -> dict[str, object]:
    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="civicsight-bench-"))
    store = SqliteTrackStore(folder / "tracks.db")
    store.open()
    try:
        events = world(args.tracks, args.days, args.seed)
        started = time.perf_counter()
        for i in range(0, len(events), args.batch):
            store.write(events[i : i + args.batch], stored_at=T0)
        write_s = time.perf_counter() - started
        rng = random.Random(args.seed + 1)
        end = T0 + args.days * DAY_S

        def window(span: float) -> tuple[float, float]:
            start = bin_start(T0 + rng.random() * max(0.0, args.days * DAY_S - span))
            return start, start + span

        shapes: dict[str, Any] = {
            "bin": lambda: TrafficQuery(*window(BIN_S)),
            "day": lambda: TrafficQuery(*window(DAY_S)),
            "day_one_camera": lambda: TrafficQuery(*window(DAY_S), camera=rng.choice(CAMERAS)),
            "all": lambda: TrafficQuery(since=T0, until=end),
        }
        results: dict[str, object] = {}
        for name, make in shapes.items():
            repeat = 3 if name == "all" else args.queries
            j_times, o_times, rows = [], [], 0
            for _ in range(repeat):
                query = make()
                s, n = timed(store.journeys, query)
                j_times.append(s)
                rows += n
                s, n = timed(store.od, query)
                o_times.append(s)
                rows += n
            results[name] = {
                "journeys_ms": percentiles(j_times),
                "od_ms": percentiles(o_times),
                "rows_per_query": round(rows / (2 * repeat)),
            }
        return {
            "backend": "sqlite",
            "tracks": args.tracks,
            "track_versions": len(events),
            "days": args.days,
            "write_s": round(write_s, 1),
            "queries": results,
            "machine": cpu_name(),
        }
    finally:
        store.close()
        if not args.dir and not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="civicsight bench journeys", description=__doc__)
    parser.add_argument("--tracks", type=int, default=100_000, help="joined tracks to generate")
    parser.add_argument("--days", type=float, default=7.0, help="days they are spread over")
    parser.add_argument("--queries", type=int, default=20, help="windows per query shape")
    parser.add_argument("--batch", type=int, default=5000, help="track versions per write")
    parser.add_argument("--seed", type=int, default=7)
    store_options(parser)
    args = parser.parse_args(argv)
    emit(run(args), args.json, args.out)


if __name__ == "__main__":
    main()
