"""One SQLite file with its lifecycle and numbered schema migrations, shared by the
kernel's SQLite-backed stores.

A store lists its schema as ``migrations``: step 1 is the first layout, each later step
changes it (``ALTER TABLE ...``). The file's ``PRAGMA user_version`` says how many steps
it has had; ``open()`` applies the missing ones, each in one transaction under a write
lock (two processes opening one file at once apply each step once). A file made before
versions existed has ``user_version`` 0 and its tables already there: step 1 uses
``CREATE ... IF NOT EXISTS``, so it adopts them, and the later steps upgrade them. A file
newer than the code (``user_version`` above the last step) is refused rather than
misread.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path


class SchemaTooNewError(RuntimeError):
    """The file was written by a newer CivicSight (more migrations than this code knows)."""


def statements(script: str) -> Iterator[str]:
    """The complete SQL statements of a script, in order."""
    buffer = ""
    for char in script:
        buffer += char
        if char == ";" and sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement: {buffer.strip()[:80]!r}")


def migrate(db: sqlite3.Connection, steps: Sequence[str], name: str) -> int:
    """Apply the steps ``db`` has not had yet; returns its version afterwards."""
    target = len(steps)
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > target:
                raise SchemaTooNewError(
                    f"{name} has schema version {version}; this CivicSight knows up to "
                    f"{target}: upgrade CivicSight, or restore the file from before"
                )
            if version == target:
                db.execute("COMMIT")
                return version
            for sql in statements(steps[version]):
                db.execute(sql)
            db.execute(f"PRAGMA user_version = {version + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def use_wal(db: sqlite3.Connection, timeout: float = 30.0) -> None:
    """Switch a file to write-ahead logging (a setting the file keeps).

    SQLite answers the switch with "database is locked" at once, without waiting on the
    busy timeout, while another connection is creating the same new file; this waits
    that out (a process and its periodic audit check open one new file together)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class SqliteFile:
    """``open()`` creates the file (owner-only permissions) and brings its schema up to
    date; ``close()``."""

    migrations: tuple[str, ...] = ()
    pragmas: tuple[str, ...] = ()
    """Per-connection settings (``secure_delete = ON``), set at every open."""
    wal: bool = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            # created readable by its owner only, before anything is written to it
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        try:
            if self.wal:
                use_wal(db)
                db.execute("PRAGMA synchronous=NORMAL")
            for pragma in self.pragmas:
                db.execute(f"PRAGMA {pragma}")
            db.isolation_level = None  # migrations manage their own transactions
            migrate(db, self.migrations, str(self.path))
            db.isolation_level = "DEFERRED"
        except BaseException:
            db.close()
            raise
        self._db = db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"{type(self).__name__} {self.path} is not open")
        return self._db
