"""One SQLite file with its lifecycle, shared by the kernel's SQLite-backed stores."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path


class SqliteFile:
    """``open()`` creates the file (owner-only permissions) and its schema; ``close()``."""

    schema: str = ""
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
        if self.wal:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(self.schema)
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
