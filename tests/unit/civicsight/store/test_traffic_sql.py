"""The traffic tables of the SQLite store arrive with a numbered migration: an existing
data folder upgrades in place when it is opened."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from civicsight.sqlite_file import SqliteFile
from civicsight.store import TrackQuery
from civicsight.store.sqlite import SCHEMA, SqliteTrackStore
from civicsight.store.traffic_sql import TABLES
from civicsight.traffic import CountBin, TrafficQuery

OLD = Path(__file__).resolve().parents[3] / "fixtures" / "datadir-2026-11" / "tracks.db"
B = 1_700_000_100.0


def test_a_data_folder_from_before_gets_the_traffic_tables(tmp_path: Path) -> None:
    """Guards an upgraded hub whose indexer fails on its first traffic message (no such
    table) with an old tracks.db, or an upgrade that loses the tracks."""
    path = tmp_path / "tracks.db"
    shutil.copy(OLD, path)
    store = SqliteTrackStore(path)
    store.open()
    try:
        row = CountBin(bin_start=B, camera="street", rule="mid", direction="in", cls="car", count=2)
        assert store.write_traffic([row], B + 1) == 1
        assert store.counts(TrafficQuery(since=B, until=B + 900)) == [row]
        assert store.search(TrackQuery()).items  # the old tracks are still there
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert set(TABLES.values()) <= names
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(SqliteTrackStore.migrations)


def test_the_traffic_step_runs_once_on_a_file_of_the_step_before(tmp_path: Path) -> None:
    """Guards the traffic step applied to a file that already has it (two processes
    opening one file), or skipped on a file of schema 3."""

    class Version3(SqliteTrackStore):
        migrations = SqliteTrackStore.migrations[:3]

        def open(self) -> None:
            SqliteFile.open(self)

    old = Version3(tmp_path / "t.db")
    old.open()
    old.close()
    for _ in range(2):
        s = SqliteTrackStore(tmp_path / "t.db")
        s.open()
        assert s.camera_bins(TrafficQuery(since=0, until=B)) == []
        s.close()
    assert SCHEMA in SqliteTrackStore.migrations
