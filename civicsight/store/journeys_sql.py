"""Journey times and origin-destination on the SQLite store (``TrafficSource.journeys``
and ``.od``), and the plate journey parts the indexer writes.

Track journeys and OD are computed at read time (why: ``civicsight.journeys``) from the
tracks whose tracklets start in the asked window: one indexed query
(``track_tracklets(first_seen)``, migration step below) finds them, a second part of the
same statement reads all their tracklets (a journey's origin may lie before the window),
and the pure code in ``civicsight.journeys`` makes the bins. Plate journeys are stored
parts (``civicsight.plate_journeys``), read as bins.

``SqliteJourneys`` is a part of ``SqliteTrackStore`` (a base class): it uses the store's
connection and lock, and its schema step is one of the store's migrations.
"""

from __future__ import annotations

import json

from civicsight.events import JOINED_TRACK_PREFIX
from civicsight.journeys import Trip, Visit, journey_bins, journey_rows, merge_rows, od_bins
from civicsight.plate_journeys import JourneyPart, part_times
from civicsight.sqlite_file import SqliteFile
from civicsight.traffic import JourneyBin, OdBin, TrafficQuery, bin_window

MIGRATION = """
CREATE INDEX IF NOT EXISTS track_tracklets_first_seen ON track_tracklets(first_seen, track_id);
CREATE TABLE IF NOT EXISTS journey_parts (
  bin_start REAL NOT NULL,
  origin TEXT NOT NULL,
  destination TEXT NOT NULL,
  cls TEXT NOT NULL,
  run TEXT NOT NULL,
  count INTEGER NOT NULL,
  seconds TEXT NOT NULL,
  stored_at REAL NOT NULL,
  PRIMARY KEY (bin_start, origin, destination, cls, run)
) WITHOUT ROWID;
"""
"""Journeys: tracklets by start time, with their track (a covering index for the read-time
query), and the plate journey parts
(``seconds``: the part's journey times, a JSON list; no pseudonym is ever stored)."""

TRIPS = f"""
SELECT t.track_id, t.cls, t.emitted_at, tt.tracklet_id, tt.camera_id, tt.first_seen, tt.last_seen
FROM tracks t JOIN track_tracklets tt ON tt.track_id = t.track_id
WHERE t.track_id IN (
    SELECT track_id FROM track_tracklets
    WHERE first_seen >= ? AND first_seen < ? AND track_id GLOB '{JOINED_TRACK_PREFIX}*')
  AND t.merged_into IS NULL
"""
"""The latest versions of the join's tracks (never one merged away) with a tracklet
starting in ``[lo, hi)``, with all their tracklets: every journey arriving in the window
and every trip starting in it arrives or starts at one of its tracklets' starts."""


class SqliteJourneys(SqliteFile):
    def _trips(self, query: TrafficQuery) -> list[Trip]:
        lo, hi = bin_window(query.since, query.until)
        sql = TRIPS
        args: list[object] = [lo, hi]
        if query.cls is not None:
            sql += " AND t.cls = ?"
            args.append(query.cls)
        if query.camera is not None:
            sql += " AND t.track_id IN (SELECT track_id FROM track_cameras WHERE camera_id = ?)"
            args.append(query.camera)
        with self._lock:
            rows = self.db.execute(sql, args).fetchall()
        found: dict[str, tuple[str, float, list[Visit]]] = {}
        for track_id, cls, decided_at, tracklet, camera, first, last in rows:
            found.setdefault(track_id, (cls, decided_at, []))[2].append(
                Visit(tracklet, camera, first, last)
            )
        return [
            Trip(track_id, cls, tuple(visits), decided_at)  # type: ignore[arg-type]
            for track_id, (cls, decided_at, visits) in found.items()
        ]

    def journey_parts(self, query: TrafficQuery) -> list[JourneyPart]:
        """The stored plate journey parts of bins starting in the window."""
        sql = (
            "SELECT bin_start, origin, destination, cls, run, seconds FROM journey_parts "
            "WHERE bin_start >= ? AND bin_start < ?"
        )
        args: list[object] = [query.since, query.until]
        if query.cls is not None:
            sql += " AND cls = ?"
            args.append(query.cls)
        if query.camera is not None:
            sql += " AND (origin = ? OR destination = ?)"
            args += [query.camera, query.camera]
        with self._lock:
            rows = self.db.execute(sql, args).fetchall()
        return [
            JourneyPart(
                bin_start=b,
                origin=o,
                destination=d,
                cls=c,
                run=r,
                seconds=tuple(json.loads(s)),
            )
            for b, o, d, c, r, s in rows
        ]

    def journeys(self, query: TrafficQuery) -> list[JourneyBin]:
        """Journey-time bins from the join's tracks and from plate pseudonyms, in bin order."""
        plates = journey_rows(part_times(self.journey_parts(query), query), "plates")
        return merge_rows(journey_bins(self._trips(query), query), plates)

    def od(self, query: TrafficQuery) -> list[OdBin]:
        return od_bins(self._trips(query), query)

    def write_journey_parts(self, parts: list[JourneyPart], stored_at: float) -> int:
        """Replace each part unless the stored one holds as many journeys or more (a part
        only grows); how many were written."""
        written = 0
        with self._lock, self.db:
            for p in parts:
                cur = self.db.execute(
                    """INSERT INTO journey_parts VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT(bin_start, origin, destination, cls, run) DO UPDATE SET
                         count=excluded.count, seconds=excluded.seconds,
                         stored_at=excluded.stored_at
                       WHERE excluded.count > journey_parts.count""",
                    (
                        p.bin_start,
                        p.origin,
                        p.destination,
                        p.cls,
                        p.run,
                        p.count,
                        json.dumps(p.seconds),
                        stored_at,
                    ),
                )
                written += cur.rowcount
        return written
