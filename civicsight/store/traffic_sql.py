"""The traffic rows in the SQLite store: one table per kind of row, written by the indexer
(``write_traffic``) and read by the API and the exports (``TrafficSource``).

Each table's primary key is the row's key (``civicsight.traffic.KEY_FIELDS`` plus
``bin_start``): a row written again replaces the stored one (a bin sent again as it
fills, or recounted, overwrites; never adds). Reads come in bin order, then by key.
Retention (data class ``traffic``) deletes bins that started before the cut-off.

``SqliteTraffic`` is mixed into ``SqliteTrackStore``; its tables arrive with one numbered
migration (``MIGRATION``), so an older data folder upgrades when it is opened.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from civicsight.traffic import (
    KEY_FIELDS,
    ROW_TYPES,
    CameraBin,
    CountBin,
    RowKind,
    SpeedBin,
    TrafficQuery,
    TrafficRow,
    TurnBin,
    ZoneBin,
    row_kind,
)

MIGRATION = """
CREATE TABLE IF NOT EXISTS traffic_cameras (
  camera TEXT NOT NULL,
  bin_start REAL NOT NULL,
  bin_minutes INTEGER NOT NULL,
  up INTEGER NOT NULL,
  stored_at REAL NOT NULL,
  PRIMARY KEY (camera, bin_start)
);
CREATE INDEX IF NOT EXISTS traffic_cameras_bin ON traffic_cameras(bin_start);
CREATE TABLE IF NOT EXISTS traffic_counts (
  camera TEXT NOT NULL,
  rule TEXT NOT NULL,
  direction TEXT NOT NULL,
  cls TEXT NOT NULL,
  bin_start REAL NOT NULL,
  bin_minutes INTEGER NOT NULL,
  count INTEGER NOT NULL,
  stored_at REAL NOT NULL,
  PRIMARY KEY (camera, rule, direction, cls, bin_start)
);
CREATE INDEX IF NOT EXISTS traffic_counts_bin ON traffic_counts(bin_start);
CREATE TABLE IF NOT EXISTS traffic_zones (
  camera TEXT NOT NULL,
  zone TEXT NOT NULL,
  cls TEXT NOT NULL,
  bin_start REAL NOT NULL,
  bin_minutes INTEGER NOT NULL,
  entries INTEGER NOT NULL,
  exits INTEGER NOT NULL,
  occupancy_mean REAL NOT NULL,
  occupancy_max INTEGER NOT NULL,
  dwell_count INTEGER NOT NULL,
  dwell_p50_s REAL,
  dwell_p90_s REAL,
  stored_at REAL NOT NULL,
  PRIMARY KEY (camera, zone, cls, bin_start)
);
CREATE INDEX IF NOT EXISTS traffic_zones_bin ON traffic_zones(bin_start);
CREATE TABLE IF NOT EXISTS traffic_turns (
  camera TEXT NOT NULL,
  entry TEXT NOT NULL,
  exit TEXT NOT NULL,
  cls TEXT NOT NULL,
  bin_start REAL NOT NULL,
  bin_minutes INTEGER NOT NULL,
  count INTEGER NOT NULL,
  stored_at REAL NOT NULL,
  PRIMARY KEY (camera, entry, exit, cls, bin_start)
);
CREATE INDEX IF NOT EXISTS traffic_turns_bin ON traffic_turns(bin_start);
CREATE TABLE IF NOT EXISTS traffic_speeds (
  camera TEXT NOT NULL,
  rule TEXT NOT NULL,
  cls TEXT NOT NULL,
  bin_start REAL NOT NULL,
  bin_minutes INTEGER NOT NULL,
  count INTEGER NOT NULL,
  p15_kmh REAL,
  p50_kmh REAL,
  p85_kmh REAL,
  stored_at REAL NOT NULL,
  PRIMARY KEY (camera, rule, cls, bin_start)
);
CREATE INDEX IF NOT EXISTS traffic_speeds_bin ON traffic_speeds(bin_start);
"""
"""The traffic tables (one migration step of the track store)."""

TABLES: dict[RowKind, str] = {kind: f"traffic_{kind}" for kind in ROW_TYPES}
DATA_CLASS = "traffic"


def _columns(kind: RowKind) -> list[str]:
    """The table's columns: the row's fields in model order, then ``stored_at``."""
    return list(ROW_TYPES[kind].model_fields)


def _upsert_sql(kind: RowKind) -> str:
    cols = [*_columns(kind), "stored_at"]
    key = {*KEY_FIELDS[kind], "bin_start"}
    sets = ", ".join(f"{c}=excluded.{c}" for c in cols if c not in key)
    return (
        f"INSERT INTO {TABLES[kind]} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
        f"ON CONFLICT({', '.join(sorted(key))}) DO UPDATE SET {sets}"
    )


def _values(row: TrafficRow, stored_at: float) -> tuple[Any, ...]:
    doc = row.model_dump()
    return (*(doc[c] for c in type(row).model_fields), stored_at)


class SqliteTraffic:
    """``write_traffic`` and the ``TrafficSource`` readers of the stream app's rows, on the
    store's one SQLite connection (``db``, guarded by ``_lock``)."""

    _lock: threading.Lock

    @property
    def db(self) -> sqlite3.Connection:
        raise NotImplementedError  # the store this is mixed into opens the file

    def write_traffic(self, rows: Sequence[TrafficRow], stored_at: float) -> int:
        """Write ``rows`` in one transaction, each replacing the stored row of its key;
        returns how many were written."""
        by_kind: dict[RowKind, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_kind.setdefault(row_kind(row), []).append(_values(row, stored_at))
        with self._lock, self.db:
            for kind, values in by_kind.items():
                self.db.executemany(_upsert_sql(kind), values)
        return len(rows)

    def _read(self, kind: RowKind, query: TrafficQuery, with_cls: bool = True) -> list[Any]:
        cols = _columns(kind)
        where = ["bin_start >= ?", "bin_start < ?"]
        args: list[object] = [query.since, query.until]
        if query.camera is not None:
            where.append("camera = ?")
            args.append(query.camera)
        if with_cls and query.cls is not None:
            where.append("cls = ?")
            args.append(query.cls)
        order = ", ".join(["bin_start", *KEY_FIELDS[kind]])
        sql = (
            f"SELECT {', '.join(cols)} FROM {TABLES[kind]} WHERE {' AND '.join(where)} "
            f"ORDER BY {order}"
        )
        with self._lock:
            found = self.db.execute(sql, args).fetchall()
        model = ROW_TYPES[kind]
        return [model.model_validate(dict(zip(cols, r, strict=True))) for r in found]

    def camera_bins(self, query: TrafficQuery) -> list[CameraBin]:
        """Whether each camera worked, per bin (``query.cls`` does not apply)."""
        return self._read("cameras", query, with_cls=False)

    def counts(self, query: TrafficQuery) -> list[CountBin]:
        return self._read("counts", query)

    def zones(self, query: TrafficQuery) -> list[ZoneBin]:
        return self._read("zones", query)

    def turns(self, query: TrafficQuery) -> list[TurnBin]:
        return self._read("turns", query)

    def speeds(self, query: TrafficQuery) -> list[SpeedBin]:
        return self._read("speeds", query)

    def _purge_traffic(self, cutoff: float) -> int:
        """Delete the bins that started before ``cutoff`` (call inside a transaction);
        returns how many camera bins went."""
        gone = 0
        for kind, table in TABLES.items():
            n = self.db.execute(f"DELETE FROM {table} WHERE bin_start < ?", (cutoff,)).rowcount
            if kind == "cameras":
                gone = int(n)
        return gone
