"""``civicsight eval mtmc DIR...``: the cross-camera join scored on scenarios.

Each scenario (``../shared/mtmc/FORMAT.md``) runs through the same tracklet processor and
association the stream app runs, without a broker (``streams.offline``), and its
predictions are scored against ``truth.jsonl`` (``streams.mtmc_score``). A folder that
holds scenarios in sub-folders stands for all of them. ``--predictions DIR`` also writes
each scenario's prediction lines. ``civicsight replay`` runs a scenario through the real
broker instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from civicsight.streams.mtmc_score import score
from civicsight.streams.offline import run_offline
from civicsight.streams.scenario import ScenarioError, open_scenario, read_truth

COLUMNS = ("IDF1", "IDP", "IDR", "link_precision", "link_recall", "tracklets", "predicted_tracks")


def scenario_dirs(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if (p / "cameras.json").is_file():
            out.append(p)
        elif p.is_dir():
            out += sorted(c for c in p.iterdir() if (c / "cameras.json").is_file())
        else:
            raise ScenarioError(f"{p}: not a scenario folder")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="civicsight eval mtmc", description=__doc__.split("\n")[0]
    )
    parser.add_argument("paths", nargs="+", type=Path, help="scenario folders (or their parent)")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    parser.add_argument("--predictions", type=Path, help="write NAME.jsonl predictions here")
    args = parser.parse_args(argv)
    try:
        dirs = scenario_dirs(args.paths)
        if not dirs:
            raise ScenarioError("no scenario folders given")
        if not args.json:
            print("| scenario | cameras | links | " + " | ".join(COLUMNS) + " | seconds |")
            print("| --- " * (len(COLUMNS) + 4) + "|")
        for d in dirs:
            scenario = open_scenario(d)
            if scenario.truth_path is None:
                raise ScenarioError(f"{d}: no truth.jsonl to score against")
            started = time.perf_counter()
            result = run_offline(scenario)
            seconds = time.perf_counter() - started
            scores = score(read_truth(scenario.truth_path), result.assignment)
            if args.predictions:
                args.predictions.mkdir(parents=True, exist_ok=True)
                with (args.predictions / f"{scenario.name}.jsonl").open("w") as f:
                    for key, gid in sorted(result.assignment.items()):
                        camera = key.rsplit("/", 1)[0]
                        row = {"camera_id": camera, "local_track_id": key, "global_track_id": gid}
                        f.write(json.dumps(row) + "\n")
            links = sum(len(v) for v in scenario.graph.edges.values()) // 2
            link_text = str(links) if scenario.graph.from_links else f"none ({links} inferred)"
            if args.json:
                line = {"scenario": scenario.name, "seconds": round(seconds, 1), **scores}
                print(json.dumps(line), flush=True)
            else:
                cells = [str(scores[c]) for c in COLUMNS]
                print(
                    f"| {scenario.name} | {len(scenario.graph.cameras)} | {link_text} | "
                    + " | ".join(cells)
                    + f" | {seconds:.0f} |",
                    flush=True,
                )
    except ScenarioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
