"""``civicsight traffic export|report``: the traffic tables for authorities, off line.

    civicsight traffic export --since T --until T --out DIR [--tables counts,od]
    civicsight traffic report --since T --until T --out report.html

``export`` writes one CSV and one Parquet file per table (``counts.csv``,
``counts.parquet``, ...) with the API's columns; ``report`` writes one self-contained HTML
document with charts (``civicsight.tools.traffic_report``). Both publish exactly what
the API publishes: ``civicsight.traffic_tables.publish`` over the whole, settled bins of
the window, with the hub's thresholds (``CIVICSIGHT_TRAFFIC_K``,
``CIVICSIGHT_TRAFFIC_FLOW_K``). Times are Unix seconds or ISO 8601 (UTC unless they say
otherwise). The store and the camera files are the hub's (its settings); each run is a
``traffic.export`` entry in the audit log, under the OS user running it.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from civicsight.audit import AuditLog
from civicsight.cameras import CameraConfig, CameraConfigError, load_cameras
from civicsight.cli import CLI_ROLE, parse_time
from civicsight.disclosure import Window, published_window
from civicsight.settings import CameraFiles, DisclosureSettings
from civicsight.store.config import StoreSettings
from civicsight.traffic import BIN_S, TrafficSource
from civicsight.traffic_tables import (
    COLUMN_TYPES,
    TABLES,
    PublishedTable,
    TableName,
    Thresholds,
    iso,
    publish,
    to_csv,
)

MAX_DAYS = 366


class TrafficToolSettings(StoreSettings, CameraFiles, DisclosureSettings):
    """What ``civicsight traffic`` reads: the store, the camera files, the thresholds."""


class UsageError(ValueError):
    """A request the tool refuses; the message says why."""


def window_of(since: float, until: float, now: float) -> Window:
    """The whole, settled bins of ``[since, until)``; refuses reversed or too long ones."""
    if until <= since:
        raise UsageError("--until must be after --since")
    if until - since > MAX_DAYS * 86_400:
        raise UsageError(f"the window may cover at most {MAX_DAYS} days")
    window = published_window(since, until, BIN_S, now)
    if window.empty:
        raise UsageError(
            f"no whole, settled 15-minute bin between {iso(since)} and {iso(min(until, now))}"
        )
    return window


def arrow_table(table: PublishedTable) -> Any:
    """The table as a pyarrow Table: typed columns, ``bin_start`` a UTC timestamp, the
    threshold and window in the schema's metadata."""
    import pyarrow as pa

    kinds = {
        "text": pa.string(),
        "time": pa.timestamp("s", tz="UTC"),
        "int": pa.int64(),
        "float": pa.float64(),
    }
    schema = pa.schema(
        [pa.field(c, kinds[COLUMN_TYPES[c]]) for c in table.columns],
        metadata={
            "civicsight.table": table.name,
            "civicsight.k": str(table.k),
            "civicsight.since": iso(table.since),
            "civicsight.until": iso(table.until),
            "civicsight.bin_minutes": "15",
        },
    )
    data = {
        c: [None if r[c] is None else int(r[c]) if c == "bin_start" else r[c] for r in table.rows]
        for c in table.columns
    }
    return pa.Table.from_pydict(data, schema=schema)


def write_exports(tables: dict[TableName, PublishedTable], out: Path) -> list[Path]:
    """``<name>.csv`` and ``<name>.parquet`` for each table in ``out``."""
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in tables.items():
        csv_path, parquet_path = out / f"{name}.csv", out / f"{name}.parquet"
        csv_path.write_text(to_csv(table), encoding="utf-8")
        pq.write_table(arrow_table(table), parquet_path)
        written += [csv_path, parquet_path]
    return written


def run(
    what: str,
    source: TrafficSource,
    cameras: Sequence[CameraConfig],
    window: Window,
    thresholds: Thresholds,
    out: Path,
    record: Callable[[dict[str, Any]], None],
    names: Sequence[TableName] = TABLES,
    now: float | None = None,
) -> str:
    """Publish the tables, ``record`` what is about to leave (the audit entry's details),
    then write it; returns what was written, in words."""
    tables = publish(source, cameras, window, thresholds, names)
    rows = sum(len(t.rows) for t in tables.values())
    record({"kind": "tables" if what == "export" else "report", "since": window.start,
            "until": window.end, "tables": list(names), "rows": rows, "out": str(out)})  # fmt: skip
    if what == "export":
        files = write_exports(tables, out)
        withheld = sum(t.suppressed for t in tables.values())
        return f"wrote {len(files)} files to {out} ({rows} rows, {withheld} with withheld values)"
    from civicsight.tools.traffic_report import render_report

    when = time.time() if now is None else now
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(tables, cameras, window, thresholds, when), encoding="utf-8")
    return f"wrote {out}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="civicsight traffic", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    for what, about in (("export", "CSV and Parquet per table"), ("report", "an HTML report")):
        s = sub.add_parser(what, help=about)
        s.add_argument("--since", type=parse_time, required=True, help="Unix seconds or ISO 8601")
        s.add_argument("--until", type=parse_time, required=True, help="Unix seconds or ISO 8601")
        s.add_argument("--out", type=Path, required=True,
                       help="folder (export) or HTML file (report)")  # fmt: skip
        if what == "export":
            choices = ", ".join(TABLES)
            s.add_argument("--tables", default=",".join(TABLES),
                           help=f"comma separated, of {choices} (default: all)")  # fmt: skip
    return p


def tables_of(text: str) -> list[TableName]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in TABLES]
    if unknown or not names:
        raise UsageError(f"--tables: choose from {', '.join(TABLES)} (got {text!r})")
    return [n for n in TABLES if n in names]


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = TrafficToolSettings()
        names = tables_of(args.tables) if args.what == "export" else list(TABLES)
        window = window_of(args.since, args.until, time.time())
        cameras = load_cameras(settings.cameras_dir) if settings.cameras_dir.is_dir() else []
        store = settings.track_store()
        store.open()
    except (UsageError, CameraConfigError, ValueError) as err:
        print(f"civicsight traffic: {err}", file=sys.stderr)
        return 2

    def record(details: dict[str, Any]) -> None:
        with AuditLog(settings.data_dir) as audit:
            audit.append(getpass.getuser(), CLI_ROLE, "traffic.export", details)

    thresholds = settings.thresholds()
    try:
        print(run(args.what, store, cameras, window, thresholds, args.out, record, names))
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
