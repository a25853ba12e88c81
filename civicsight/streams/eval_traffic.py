"""``civicsight eval traffic DIR...``: journey times and origin-destination from the hub's
tracks, scored against each scenario's ground truth; one JSON object per scenario.

Each scenario (``../shared/mtmc/FORMAT.md``) runs through the tracklet processor and the
join without a broker (``streams.offline``), as ``eval mtmc`` does. Every track version
the stream app would publish (each tracklet's own ``t-`` track and the join's ``g-``
tracks, merges and revisions included) is written to a real SQLite track store (in a
temporary folder), and the store's ``journeys`` and ``od`` answer for the whole
scenario: the same path the API reads. The truth's identities go through the same
definitions (``streams.traffic_score``).

``plates`` scores the ANPR path the same way: every plate read of the scenario becomes
a ``PlateSighting`` under a random key of the day (``civicsight.pseudonyms``), the
indexer's matcher (``civicsight.plate_journeys``) turns them into journey bins, and they
are compared with the truth's journeys between consecutive plate-camera stops of
vehicles. A plate journey runs from the last read at one camera to the first at the
next, so it is a little longer than the truth's (last to first detection).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from civicsight.events import FrameDetections, PlateRead
from civicsight.journeys import Trip, journey_bins, journey_rows, od_bins
from civicsight.plate_journeys import JourneyPart, PlateJourneys, part_times
from civicsight.pseudonyms import KeySchedule, sightings
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.streams.eval_mtmc import scenario_dirs
from civicsight.streams.join import track_update
from civicsight.streams.offline import OfflineResult, run_offline
from civicsight.streams.scenario import (
    Scenario,
    ScenarioError,
    open_scenario,
    read_events,
    read_truth,
)
from civicsight.streams.traffic_score import Span, compare_journeys, compare_od, truth_trips
from civicsight.traffic import JourneyBin, OdBin, TrafficQuery

EVERYTHING = TrafficQuery(since=0.0, until=4_000_000_000.0)
VEHICLES = frozenset({"car", "truck", "bus", "motorcycle"})


def spans_and_plates(scenario: Scenario) -> tuple[dict[str, Span], list[PlateRead]]:
    """Each tracklet's detection times and classes, and the scenario's plate reads."""
    spans: dict[str, Span] = {}
    plates: list[PlateRead] = []
    for event in read_events(scenario):
        if isinstance(event, FrameDetections):
            for box in event.boxes:
                key = f"{event.camera_id}/{box.track_id}"
                span = spans.setdefault(
                    key, Span(event.camera_id, event.captured_at, event.captured_at)
                )
                span.add(event.captured_at, box.cls)
        elif isinstance(event, PlateRead):
            plates.append(event)
    return spans, plates


def hub_rows(result: OfflineResult, folder: Path) -> tuple[list[JourneyBin], list[OdBin]]:
    """Every track version the stream app published (the per-tracklet ``t-`` tracks and
    the join's), through a real SQLite store, read back as the API reads it."""
    store = SqliteTrackStore(folder / "tracks.db")
    store.open()
    try:
        updates = [track_update(c, float(i)) for i, c in enumerate(result.changes)]
        store.write([*result.tracklet_updates, *updates], stored_at=float(len(updates)))
        return store.journeys(EVERYTHING), store.od(EVERYTHING)
    finally:
        store.close()


def plate_rows(
    plates: list[PlateRead], spans: dict[str, Span], plate_cameras: frozenset[str]
) -> list[JourneyBin]:
    """The plate reads as the plates service and the indexer would turn them into bins."""
    keys = KeySchedule()
    matcher = PlateJourneys(run="0000e7a1")
    parts: dict[tuple[Any, ...], JourneyPart] = {}
    for read in sorted(plates, key=lambda r: r.captured_at):
        if read.camera_id not in plate_cameras:
            continue
        span = spans.get(read.tracklet_id)
        if span is None:
            continue
        cls = min(span.classes.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        if cls not in VEHICLES:
            continue
        seen = sightings(keys, read.camera_id, read.captured_at, cls, read.text)  # type: ignore[arg-type]
        for part in matcher.add(seen, read.captured_at):
            parts[(*part.key, part.run)] = part
    for part in matcher.tick(float("inf")):
        parts[(*part.key, part.run)] = part
    return journey_rows(part_times(parts.values(), EVERYTHING), "plates")


def plate_truth(trips: list[Trip], plate_cameras: frozenset[str]) -> list[JourneyBin]:
    """The truth's vehicle journeys between consecutive plate-camera stops."""
    kept = []
    for t in trips:
        visits = tuple(v for v in t.visits if v.camera in plate_cameras)
        if t.cls in VEHICLES and visits:
            kept.append(Trip(t.key, t.cls, visits))
    return journey_bins(kept, EVERYTHING)


def evaluate(scenario: Scenario) -> dict[str, Any]:
    if scenario.truth_path is None:
        raise ScenarioError(f"{scenario.root}: no truth.jsonl to score against")
    started = time.perf_counter()
    result = run_offline(scenario)
    with tempfile.TemporaryDirectory(prefix="civicsight-eval-traffic-") as tmp:
        hub_journeys, hub_od = hub_rows(result, Path(tmp))
    spans, plates = spans_and_plates(scenario)
    trips = truth_trips(read_truth(scenario.truth_path), spans)
    cameras = plate_cameras(scenario)
    return {
        "scenario": scenario.name,
        "od": compare_od(hub_od, od_bins(trips, EVERYTHING)),
        "journeys": compare_journeys(hub_journeys, journey_bins(trips, EVERYTHING)),
        "plates": compare_journeys(plate_rows(plates, spans, cameras), plate_truth(trips, cameras)),
        "seconds": round(time.perf_counter() - started, 1),
    }


def plate_cameras(scenario: Scenario) -> frozenset[str]:
    doc = json.loads((scenario.root / "cameras.json").read_text())
    return frozenset(str(c["id"]) for c in doc["cameras"] if c.get("plate_recognition"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="civicsight eval traffic", description=__doc__.split("\n")[0]
    )
    parser.add_argument("paths", nargs="+", type=Path, help="scenario folders (or their parent)")
    parser.add_argument("--indent", action="store_true", help="pretty-print each object")
    args = parser.parse_args(argv)
    try:
        dirs = scenario_dirs(args.paths)
        if not dirs:
            raise ScenarioError("no scenario folders given")
        for d in dirs:
            line = evaluate(open_scenario(d))
            print(json.dumps(line, indent=2 if args.indent else None), flush=True)
    except ScenarioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
