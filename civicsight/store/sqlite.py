"""SQLite (WAL) track store: the embedded default. Upserts are idempotent by (track, version)."""

from __future__ import annotations

import json
from typing import Any

from civicsight.events import TrackUpdate
from civicsight.sqlite_file import SqliteFile
from civicsight.store import Page, StoredTrack, TrackQuery, decode_cursor, encode_cursor

SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (
  track_id TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  cls TEXT NOT NULL,
  cameras TEXT NOT NULL,
  tracklets INTEGER NOT NULL,
  first_seen REAL NOT NULL,
  last_seen REAL NOT NULL,
  closed INTEGER NOT NULL,
  path TEXT NOT NULL,
  best_crop BLOB,
  emitted_at REAL NOT NULL,
  stored_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tracks_last_seen ON tracks(last_seen DESC, track_id DESC);
CREATE TABLE IF NOT EXISTS track_cameras (
  track_id TEXT NOT NULL,
  camera_id TEXT NOT NULL,
  PRIMARY KEY (track_id, camera_id)
);
CREATE INDEX IF NOT EXISTS track_cameras_camera ON track_cameras(camera_id);
CREATE TABLE IF NOT EXISTS track_versions (
  track_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  emitted_at REAL NOT NULL,
  last_seen REAL NOT NULL,
  stored_at REAL NOT NULL,
  closed INTEGER NOT NULL,
  PRIMARY KEY (track_id, version)
);
"""

COLUMNS = (
    "track_id, version, cls, cameras, tracklets, first_seen, last_seen, closed, path, "
    "best_crop IS NOT NULL, stored_at"
)


class SqliteTrackStore(SqliteFile):
    schema = SCHEMA

    def upsert(self, update: TrackUpdate, stored_at: float) -> bool:
        return self.upsert_many([update], stored_at) == 1

    def upsert_many(self, updates: list[TrackUpdate], stored_at: float) -> int:
        """One transaction for a batch; returns how many updates were newer than the store."""
        applied = 0
        with self._lock, self.db:
            for u in updates:
                self.db.execute(
                    "INSERT OR IGNORE INTO track_versions VALUES (?, ?, ?, ?, ?, ?)",
                    (u.track_id, u.version, u.emitted_at, u.last_seen, stored_at, int(u.closed)),
                )
                cur = self.db.execute(
                    """INSERT INTO tracks VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
                       ON CONFLICT(track_id) DO UPDATE SET
                         version=excluded.version, cls=excluded.cls, cameras=excluded.cameras,
                         tracklets=excluded.tracklets, first_seen=excluded.first_seen,
                         last_seen=excluded.last_seen, closed=excluded.closed,
                         path=excluded.path,
                         best_crop=COALESCE(excluded.best_crop, tracks.best_crop),
                         emitted_at=excluded.emitted_at, stored_at=excluded.stored_at
                       WHERE excluded.version > tracks.version""",
                    (
                        u.track_id,
                        u.version,
                        u.cls,
                        json.dumps(u.cameras),
                        len(u.tracklets),
                        u.first_seen,
                        u.last_seen,
                        int(u.closed),
                        json.dumps(u.path),
                        u.best_crop_jpeg,
                        u.emitted_at,
                        stored_at,
                    ),
                )
                if cur.rowcount:
                    applied += 1
                    self.db.execute("DELETE FROM track_cameras WHERE track_id = ?", (u.track_id,))
                    self.db.executemany(
                        "INSERT INTO track_cameras VALUES (?, ?)",
                        [(u.track_id, cam) for cam in u.cameras],
                    )
        return applied

    @staticmethod
    def _row(row: tuple[Any, ...]) -> StoredTrack:
        return StoredTrack(
            track_id=row[0],
            version=row[1],
            cls=row[2],
            cameras=tuple(json.loads(row[3])),
            tracklets=row[4],
            first_seen=row[5],
            last_seen=row[6],
            closed=bool(row[7]),
            path=tuple(tuple(p) for p in json.loads(row[8])),
            has_crop=bool(row[9]),
            stored_at=row[10],
        )

    def get(self, track_id: str) -> StoredTrack | None:
        with self._lock:
            row = self.db.execute(
                f"SELECT {COLUMNS} FROM tracks WHERE track_id = ?", (track_id,)
            ).fetchone()
        return self._row(row) if row else None

    def crop(self, track_id: str) -> bytes | None:
        with self._lock:
            row = self.db.execute(
                "SELECT best_crop FROM tracks WHERE track_id = ?", (track_id,)
            ).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def search(self, query: TrackQuery) -> Page:
        where: list[str] = []
        args: list[object] = []
        if query.cls:
            where.append("cls = ?")
            args.append(query.cls)
        if query.camera:
            where.append("track_id IN (SELECT track_id FROM track_cameras WHERE camera_id = ?)")
            args.append(query.camera)
        if query.since is not None:
            where.append("last_seen >= ?")
            args.append(query.since)
        if query.until is not None:
            where.append("first_seen <= ?")
            args.append(query.until)
        if query.cursor:
            last_seen, track_id = decode_cursor(query.cursor)
            where.append("(last_seen < ? OR (last_seen = ? AND track_id < ?))")
            args.extend([last_seen, last_seen, track_id])
        sql = f"SELECT {COLUMNS} FROM tracks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY last_seen DESC, track_id DESC LIMIT ?"
        args.append(query.limit + 1)
        with self._lock:
            rows = self.db.execute(sql, args).fetchall()
        items = [self._row(r) for r in rows[: query.limit]]
        more = len(rows) > query.limit
        return Page(items, encode_cursor(items[-1].last_seen, items[-1].track_id) if more else None)

    def versions(self) -> list[tuple[str, int]]:
        """Every (track, version) ever stored, for audits and the crash test."""
        with self._lock:
            return [
                (r[0], r[1])
                for r in self.db.execute(
                    "SELECT track_id, version FROM track_versions ORDER BY track_id, version"
                )
            ]

    def latencies(self) -> list[float]:
        """Seconds from the capture of a version's newest frame to its storing (open tracks;
        a version that only closes a track after its timeout is not a latency)."""
        with self._lock:
            return [
                r[0]
                for r in self.db.execute(
                    "SELECT stored_at - last_seen FROM track_versions WHERE closed = 0"
                )
            ]

    def purge_before(self, cutoff: float) -> int:
        with self._lock, self.db:
            ids = [
                r[0]
                for r in self.db.execute(
                    "SELECT track_id FROM tracks WHERE last_seen < ?", (cutoff,)
                )
            ]
            self.db.executemany("DELETE FROM track_cameras WHERE track_id = ?", [(i,) for i in ids])
            self.db.execute("DELETE FROM tracks WHERE last_seen < ?", (cutoff,))
            self.db.execute("DELETE FROM track_versions WHERE last_seen < ?", (cutoff,))
        return len(ids)
