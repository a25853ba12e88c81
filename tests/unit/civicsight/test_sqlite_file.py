"""Numbered schema migrations of the kernel's SQLite files."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from civicsight.sqlite_file import SchemaTooNewError, SqliteFile, statements

V1 = "CREATE TABLE IF NOT EXISTS things (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
V2 = "ALTER TABLE things ADD COLUMN colour TEXT; UPDATE things SET colour = 'grey';"


class Things(SqliteFile):
    migrations = (V1,)


class ThingsV2(SqliteFile):
    migrations = (V1, V2)


def version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def test_a_new_file_gets_every_step(tmp_path: Path) -> None:
    store = ThingsV2(tmp_path / "x.db")
    store.open()
    store.db.execute("INSERT INTO things VALUES (1, 'a', 'red')")
    store.close()
    assert version(tmp_path / "x.db") == 2


def test_an_old_file_is_upgraded_without_loss_and_only_once(tmp_path: Path) -> None:
    """Guards the first schema change stranding a data dir, and a step applied twice
    (ALTER TABLE ADD COLUMN fails the second time)."""
    path = tmp_path / "x.db"
    old = Things(path)
    old.open()
    with old.db:
        old.db.execute("INSERT INTO things (id, name) VALUES (1, 'kept')")
    old.close()
    assert version(path) == 1
    for _ in range(2):
        new = ThingsV2(path)
        new.open()
        assert new.db.execute("SELECT id, name, colour FROM things").fetchall() == [
            (1, "kept", "grey")
        ]
        new.close()
    assert version(path) == 2


def test_a_file_from_before_versions_is_adopted(tmp_path: Path) -> None:
    """Guards data dirs made by `CREATE TABLE IF NOT EXISTS` without a version (0)."""
    path = tmp_path / "x.db"
    with sqlite3.connect(path) as db:
        db.executescript(V1 + "INSERT INTO things VALUES (7, 'legacy');")
    store = ThingsV2(path)
    store.open()
    assert store.db.execute("SELECT * FROM things").fetchall() == [(7, "legacy", "grey")]
    store.close()


def test_a_file_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    """Guards misreading a file whose layout this code does not know."""
    path = tmp_path / "x.db"
    store = ThingsV2(path)
    store.open()
    store.close()
    with pytest.raises(SchemaTooNewError, match="version 2"):
        Things(path).open()


def test_a_failing_step_changes_nothing(tmp_path: Path) -> None:
    class Broken(SqliteFile):
        migrations = (V1, "ALTER TABLE things ADD COLUMN x TEXT; THIS IS NOT SQL;")

    path = tmp_path / "x.db"
    with pytest.raises(sqlite3.OperationalError):
        Broken(path).open()
    assert version(path) == 1
    with sqlite3.connect(path) as db:
        columns = [r[1] for r in db.execute("PRAGMA table_info(things)")]
    assert columns == ["id", "name"]


def test_two_processes_opening_at_once_apply_each_step_once(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    Things(path).open()
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            ThingsV2(path).open()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and version(path) == 2


def open_new_file(path: Path, start: Barrier, errors: Queue[str]) -> None:
    start.wait()
    try:
        things = Things(path)
        things.open()
        things.close()
    except sqlite3.Error as err:
        errors.put(str(err))


def test_processes_opening_a_new_file_at_once_all_get_it(tmp_path: Path) -> None:
    """Guards "database is locked" from the switch to WAL while another connection
    creates the same new file (the audit log and its periodic check, in CI)."""
    fork = multiprocessing.get_context("fork")
    errors: Queue[str] = fork.Queue()
    for round_ in range(30):
        path = tmp_path / f"new-{round_}.db"
        start = fork.Barrier(4)
        openers = [fork.Process(target=open_new_file, args=(path, start, errors)) for _ in range(4)]
        for p in openers:
            p.start()
        for p in openers:
            p.join()
        assert version(path) == 1
    assert errors.empty()


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("", []),
        ("SELECT 1;", ["SELECT 1;"]),
        ("SELECT 1;\nSELECT 'a;b';", ["SELECT 1;", "SELECT 'a;b';"]),
        (
            "CREATE TABLE t (a);\n\n  -- note\nSELECT 2;",
            ["CREATE TABLE t (a);", "-- note\nSELECT 2;"],
        ),
    ],
)
def test_statements(script: str, expected: list[str]) -> None:
    assert list(statements(script)) == expected


def test_statements_refuses_a_cut_script() -> None:
    with pytest.raises(ValueError, match="incomplete"):
        list(statements("SELECT 1; SELECT"))
