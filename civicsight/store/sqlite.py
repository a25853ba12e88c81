"""SQLite (WAL) track store: the embedded default.

Every write is idempotent: a track by (track, version), a plate read by (tracklet, text)
with its best confidence, an appearance by tracklet with its best crop
(``appearance_rank``), a tracklet's best crop by tracklet with the version of its own
track (``tracklet_crop_of``), so a replay never duplicates or regresses anything.
Partial and fuzzy plates are found through a trigram index of plate skeletons
(``plates.py``); similar appearances through an HNSW graph (``vectors.py``) whose
candidates are re-ranked exactly. Retention deletes tracks (with their tracklets' crops),
plate reads (and plate texts nobody read any more) and appearance vectors. The traffic
rows (counts, zones, turns, speeds per 15-minute bin) live in their own tables
(``traffic_sql.py``, mixed in).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from civicsight.events import Appearance, PlateRead, TrackUpdate, tracklet_id
from civicsight.plate_text import SKELETON_KEY, PatternError, PlatePattern, check_plate
from civicsight.store import (
    Indexed,
    Page,
    PlateHit,
    PlatePage,
    PlateQuery,
    PlateReadOut,
    Sighting,
    SimilarHit,
    SimilarQuery,
    StoredTrack,
    TrackDetail,
    TrackQuery,
    WriteResult,
    appearance_rank,
    crop_stand_in,
    decode_cursor,
    encode_cursor,
    history,
    plate_page,
    plate_rank,
    tracklet_crop_of,
)
from civicsight.store.journeys_sql import MIGRATION as JOURNEYS_MIGRATION
from civicsight.store.journeys_sql import SqliteJourneys
from civicsight.store.plates import fuzzy_grams, ocr_distance, pattern_grams, plate_grams
from civicsight.store.traffic_sql import MIGRATION as TRAFFIC_TABLES
from civicsight.store.traffic_sql import SqliteTraffic
from civicsight.store.vectors import VectorIndex, rerank, unit

MAX_CANDIDATE_TEXTS = 50_000  # a plate query matching more distinct plates is too broad
EXACT_KNN_MAX = 20_000  # a filtered kNN over at most this many vectors is done exactly
KEEP_PER_HIT, MIN_KEEP = 4, 100
"""Vectors kept per wanted track (at least ``MIN_KEEP``) before naming their tracks: the
graph's float16 distances are near exact, so a few per track are enough (README: the
recall curve); an exact search keeps as many of its best."""

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
CREATE TABLE IF NOT EXISTS track_tracklets (
  track_id TEXT NOT NULL,
  tracklet_id TEXT NOT NULL,
  camera_id TEXT NOT NULL,
  first_seen REAL NOT NULL,
  last_seen REAL NOT NULL,
  PRIMARY KEY (track_id, tracklet_id)
);
CREATE INDEX IF NOT EXISTS track_tracklets_tracklet ON track_tracklets(tracklet_id);
CREATE TABLE IF NOT EXISTS track_versions (
  track_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  emitted_at REAL NOT NULL,
  last_seen REAL NOT NULL,
  stored_at REAL NOT NULL,
  closed INTEGER NOT NULL,
  tracklets TEXT NOT NULL,
  PRIMARY KEY (track_id, version)
);
CREATE TABLE IF NOT EXISTS plate_texts (
  text_id INTEGER PRIMARY KEY,
  text TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS plate_grams (
  gram TEXT NOT NULL,
  text_id INTEGER NOT NULL,
  PRIMARY KEY (gram, text_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plate_reads (
  tracklet_id TEXT NOT NULL,
  text_id INTEGER NOT NULL,
  camera_id TEXT NOT NULL,
  seen_at REAL NOT NULL,
  conf REAL NOT NULL,
  rank INTEGER NOT NULL,
  PRIMARY KEY (tracklet_id, text_id)
);
CREATE INDEX IF NOT EXISTS plate_reads_text ON plate_reads(text_id);
CREATE INDEX IF NOT EXISTS plate_reads_seen ON plate_reads(seen_at);
CREATE TABLE IF NOT EXISTS sightings (
  vec_id INTEGER PRIMARY KEY AUTOINCREMENT,
  tracklet_id TEXT NOT NULL UNIQUE,
  camera_id TEXT NOT NULL,
  cls TEXT NOT NULL,
  model TEXT NOT NULL,
  seen_at REAL NOT NULL,
  rank INTEGER NOT NULL,
  embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sightings_space ON sightings(model, cls, seen_at);
CREATE TABLE IF NOT EXISTS sightings_gone (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  vec_id INTEGER NOT NULL,
  gone_at REAL NOT NULL
);
"""

MIGRATION_2 = """
ALTER TABLE tracks ADD COLUMN merged_into TEXT;
CREATE TABLE IF NOT EXISTS tracklet_crops (
  tracklet_id TEXT PRIMARY KEY,
  track_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  last_seen REAL NOT NULL,
  jpeg BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS tracklet_crops_seen ON tracklet_crops(last_seen);
"""
"""Step 2: the track a merged track went into, and each tracklet's best crop (keyed by
tracklet; ``track_id``/``version``: the tracklet's own track version that carried it)."""

MIGRATION_3 = """
CREATE TABLE IF NOT EXISTS plate_index (skeleton TEXT NOT NULL);
"""
"""Step 3: the look-alike classes the plate grams were built with
(``civicsight.plate_text.SKELETON_KEY``); ``open`` builds the grams again when they differ."""

COLUMNS = (
    "track_id, version, cls, cameras, tracklets, first_seen, last_seen, closed, path, "
    "best_crop IS NOT NULL OR EXISTS (SELECT 1 FROM track_tracklets tt JOIN tracklet_crops c "
    "USING (tracklet_id) WHERE tt.track_id = tracks.track_id), stored_at, merged_into"
)


def vector_folder(path: Path) -> Path:
    """Where the saved vector graphs of the store at ``path`` live."""
    return path.with_name(f"{path.stem}-vectors")


def _chunks(items: Sequence[Any], size: int = 10_000) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _marks(n: int) -> str:
    return ",".join("?" * n)


class SqliteTrackStore(SqliteJourneys, SqliteTraffic):
    """Also the traffic source: journeys and origin-destination (``SqliteJourneys``),
    the stream app's bins (``SqliteTraffic``)."""

    # step 4: journeys (``journeys_sql``); step 5: the traffic rows (``traffic_sql``)
    migrations = (SCHEMA, MIGRATION_2, MIGRATION_3, JOURNEYS_MIGRATION, TRAFFIC_TABLES)

    def __init__(self, path: Path, vector_threads: int = 0, writer: bool = False) -> None:
        """``writer``: this process (the indexer) keeps the saved vector graphs; readers
        open them."""
        super().__init__(path)
        self._vectors = VectorIndex(vector_folder(path), writer, vector_threads)

    @property
    def vector_index(self) -> VectorIndex:
        return self._vectors

    def close(self) -> None:
        if self._db is not None and self._vectors.writer:
            self.save_index(force=True)
        super().close()

    def open(self) -> None:
        super().open()
        self._index_plates()

    def _index_plates(self) -> None:
        """Build the plate grams again when they were built with other look-alike classes
        (the table in ``civicsight.plate_text`` changed): searches would miss plates."""
        with self._lock:
            db = self.db
            if db.execute("SELECT skeleton FROM plate_index").fetchall() == [(SKELETON_KEY,)]:
                return
            db.execute("BEGIN IMMEDIATE")  # one process rebuilds; the others see it done
            try:
                if db.execute("SELECT skeleton FROM plate_index").fetchall() != [(SKELETON_KEY,)]:
                    texts = db.execute("SELECT text_id, text FROM plate_texts").fetchall()
                    db.execute("DELETE FROM plate_grams")
                    db.executemany(
                        "INSERT INTO plate_grams VALUES (?, ?)",
                        [(g, i) for i, text in texts for g in plate_grams(text)],
                    )
                    db.execute("DELETE FROM plate_index")
                    db.execute("INSERT INTO plate_index VALUES (?)", (SKELETON_KEY,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # ---- writes ---------------------------------------------------------------------

    def upsert(self, update: TrackUpdate, stored_at: float) -> bool:
        return self.write([update], stored_at).applied == 1

    def upsert_many(self, updates: list[TrackUpdate], stored_at: float) -> int:
        return self.write(updates, stored_at).applied

    def write(self, events: Sequence[Indexed], stored_at: float) -> WriteResult:
        """One transaction for a batch; ``applied`` counts the writes newer than the store."""
        applied = 0
        with self._lock, self.db:
            for e in events:
                if isinstance(e, TrackUpdate):
                    applied += self._track(e, stored_at)
                elif isinstance(e, PlateRead):
                    applied += self._plate(e)
                else:
                    applied += self._appearance(e, stored_at)
        return WriteResult(applied)

    def _track(self, u: TrackUpdate, stored_at: float) -> bool:
        tracklets = sorted(tracklet_id(t.camera_id, t.track_id) for t in u.tracklets)
        self.db.execute(
            "INSERT OR IGNORE INTO track_versions VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                u.track_id,
                u.version,
                u.emitted_at,
                u.last_seen,
                stored_at,
                int(u.closed),
                json.dumps(tracklets),
            ),
        )
        cur = self.db.execute(
            """INSERT INTO tracks VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT(track_id) DO UPDATE SET
                 version=excluded.version, cls=excluded.cls, cameras=excluded.cameras,
                 tracklets=excluded.tracklets, first_seen=excluded.first_seen,
                 last_seen=excluded.last_seen, closed=excluded.closed,
                 path=excluded.path,
                 best_crop=COALESCE(excluded.best_crop, tracks.best_crop),
                 emitted_at=excluded.emitted_at, stored_at=excluded.stored_at,
                 merged_into=excluded.merged_into
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
                u.merged_into,
            ),
        )
        self._tracklet_crop(u)
        if not cur.rowcount:
            return False
        self.db.execute("DELETE FROM track_cameras WHERE track_id = ?", (u.track_id,))
        self.db.executemany(
            "INSERT INTO track_cameras VALUES (?, ?)", [(u.track_id, cam) for cam in u.cameras]
        )
        self.db.execute("DELETE FROM track_tracklets WHERE track_id = ?", (u.track_id,))
        self.db.executemany(
            "INSERT OR REPLACE INTO track_tracklets VALUES (?, ?, ?, ?, ?)",
            [
                (
                    u.track_id,
                    tracklet_id(t.camera_id, t.track_id),
                    t.camera_id,
                    t.first_seen,
                    t.last_seen,
                )
                for t in u.tracklets
            ],
        )
        return True

    def _tracklet_crop(self, u: TrackUpdate) -> None:
        found = tracklet_crop_of(u)
        if found is None:
            return
        tracklet, jpeg = found
        self.db.execute(
            """INSERT INTO tracklet_crops VALUES (?, ?, ?, ?, ?)
               ON CONFLICT(tracklet_id) DO UPDATE SET
                 track_id=excluded.track_id, version=excluded.version,
                 last_seen=excluded.last_seen, jpeg=excluded.jpeg
               WHERE excluded.version > tracklet_crops.version""",
            (tracklet, u.track_id, u.version, u.last_seen, jpeg),
        )

    def _text_id(self, text: str) -> int:
        row = self.db.execute("SELECT text_id FROM plate_texts WHERE text = ?", (text,)).fetchone()
        if row:
            return int(row[0])
        cur = self.db.execute("INSERT INTO plate_texts (text) VALUES (?)", (text,))
        text_id = int(cur.lastrowid or 0)
        self.db.executemany(
            "INSERT INTO plate_grams VALUES (?, ?)", [(g, text_id) for g in plate_grams(text)]
        )
        return text_id

    def _plate(self, r: PlateRead) -> bool:
        cur = self.db.execute(
            """INSERT INTO plate_reads VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT(tracklet_id, text_id) DO UPDATE SET
                 camera_id=excluded.camera_id, seen_at=excluded.seen_at,
                 conf=excluded.conf, rank=excluded.rank
               WHERE excluded.rank > plate_reads.rank""",
            (
                r.tracklet_id,
                self._text_id(r.text),
                r.camera_id,
                r.captured_at,
                r.conf,
                plate_rank(r.conf),
            ),
        )
        return cur.rowcount > 0

    def _appearance(self, a: Appearance, stored_at: float) -> bool:
        rank = appearance_rank(a.quality, a.captured_at)
        row = self.db.execute(
            "SELECT vec_id, rank FROM sightings WHERE tracklet_id = ?", (a.tracklet_id,)
        ).fetchone()
        if row is not None:
            if row[1] >= rank:
                return False
            self.db.execute("DELETE FROM sightings WHERE vec_id = ?", (row[0],))
            self.db.execute(
                "INSERT INTO sightings_gone (vec_id, gone_at) VALUES (?, ?)", (row[0], stored_at)
            )
        self.db.execute(
            "INSERT INTO sightings (tracklet_id, camera_id, cls, model, seen_at, rank, embedding)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                a.tracklet_id,
                a.camera_id,
                a.cls,
                a.model,
                a.captured_at,
                rank,
                unit(np.asarray(a.embedding, np.float32)).tobytes(),
            ),
        )
        return True

    # ---- tracks ---------------------------------------------------------------------

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
            merged_into=row[11],
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
        if row is None:
            return None
        if row[0] is not None:
            return bytes(row[0])
        stand_in = crop_stand_in(self._legs(track_id))
        return None if stand_in is None else self.tracklet_crop(stand_in.tracklet)

    def tracklet_crop(self, tracklet: str) -> bytes | None:
        with self._lock:
            row = self.db.execute(
                "SELECT jpeg FROM tracklet_crops WHERE tracklet_id = ?", (tracklet,)
            ).fetchone()
        return bytes(row[0]) if row else None

    def _legs(self, track_id: str) -> list[Sighting]:
        """The track's tracklets in time order, each with whether its crop is stored."""
        with self._lock:
            rows = self.db.execute(
                "SELECT t.tracklet_id, t.camera_id, t.first_seen, t.last_seen, "
                "c.tracklet_id IS NOT NULL FROM track_tracklets t LEFT JOIN tracklet_crops c "
                "USING (tracklet_id) WHERE t.track_id = ? ORDER BY t.first_seen, t.tracklet_id",
                (track_id,),
            ).fetchall()
        return [
            Sighting(tracklet=a, camera_id=b, first_seen=c, last_seen=d, has_crop=bool(e))
            for a, b, c, d, e in rows
        ]

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

    def detail(self, track_id: str) -> TrackDetail | None:
        track = self.get(track_id)
        if track is None:
            return None
        legs = self._legs(track_id)
        names = [leg.tracklet for leg in legs]
        with self._lock:
            reads = self.db.execute(
                "SELECT r.tracklet_id, r.camera_id, t.text, r.conf, r.seen_at FROM plate_reads r "
                f"JOIN plate_texts t USING (text_id) WHERE r.tracklet_id IN ({_marks(len(names))})"
                " ORDER BY r.seen_at, r.conf DESC, t.text",
                names,
            ).fetchall()
            versions = self.db.execute(
                "SELECT version, emitted_at, tracklets FROM track_versions WHERE track_id = ?",
                (track_id,),
            ).fetchall()
        return TrackDetail(
            track=track,
            trajectory=legs,
            plate_reads=[
                PlateReadOut(tracklet=a, camera_id=b, text=c, conf=d, seen_at=e)
                for a, b, c, d, e in reads
            ],
            history=history([(v, at, tuple(json.loads(t))) for v, at, t in versions]),
        )

    # ---- plates ---------------------------------------------------------------------

    def _candidate_texts(self, query: PlateQuery) -> dict[int, tuple[str, float]]:
        """Distinct plate texts that match, with their distance to the query."""
        if query.mode == "exact":
            plate = check_plate(query.text)
            rows = self.db.execute(
                "SELECT text_id, text FROM plate_texts WHERE text = ?", (plate,)
            ).fetchall()
            return {i: (t, 0.0) for i, t in rows}
        if query.mode == "pattern":
            pattern = PlatePattern.parse(query.text)
            grams: Sequence[str] = pattern_grams(pattern)
            need = len(grams)
        else:
            plate = check_plate(query.text)
            grams, need = fuzzy_grams(plate, query.max_distance)
        sql = (
            "SELECT p.text_id, p.text FROM plate_texts p JOIN (SELECT text_id FROM plate_grams "
            f"WHERE gram IN ({_marks(len(grams))}) GROUP BY text_id HAVING count(*) >= ?) "
            "USING (text_id)"
        )
        args: list[object] = [*grams, need]
        if query.mode == "pattern":
            sql += " WHERE p.text GLOB ?"
            args.append(PlatePattern.parse(query.text).glob)
        sql += " LIMIT ?"
        args.append(MAX_CANDIDATE_TEXTS + 1)
        rows = self.db.execute(sql, args).fetchall()
        if len(rows) > MAX_CANDIDATE_TEXTS:
            raise PatternError(
                f"more than {MAX_CANDIDATE_TEXTS} different plates match: give more characters"
            )
        if query.mode == "pattern":
            return {i: (t, 0.0) for i, t in rows}
        found: dict[int, tuple[str, float]] = {}
        for i, t in rows:
            d = ocr_distance(plate, t)
            if d <= query.max_distance:
                found[i] = (t, d)
        return found

    def search_plates(self, query: PlateQuery) -> PlatePage:
        """Raises ``PatternError`` for a bad or too vague query, ``BadCursorError``."""
        where: list[str] = []
        args: list[object] = []
        if query.camera:
            where.append("r.camera_id = ?")
            args.append(query.camera)
        if query.since is not None:
            where.append("r.seen_at >= ?")
            args.append(query.since)
        if query.until is not None:
            where.append("r.seen_at <= ?")
            args.append(query.until)
        with self._lock:
            texts = self._candidate_texts(query)
            reads: list[tuple[str, str, int, float, float]] = []
            for ids in _chunks(list(texts)):
                reads += self.db.execute(
                    "SELECT r.tracklet_id, r.camera_id, r.text_id, r.conf, r.seen_at "
                    f"FROM plate_reads r WHERE r.text_id IN ({_marks(len(ids))})"
                    + "".join(f" AND {w}" for w in where),
                    [*ids, *args],
                ).fetchall()
            tracks = self._track_of([r[0] for r in reads])
        hits = [
            PlateHit(
                track_id=tracks.get(tracklet),
                tracklet=tracklet,
                camera_id=cam,
                text=texts[text_id][0],
                conf=conf,
                seen_at=seen,
                distance=texts[text_id][1],
            )
            for tracklet, cam, text_id, conf, seen in reads
        ]
        return plate_page(hits, query)

    # ---- appearances ----------------------------------------------------------------

    def search_similar(self, query: SimilarQuery) -> list[SimilarHit]:
        vector = unit(np.asarray(query.vector, np.float32))
        where = ["model = ?", "cls = ?"]
        args: list[object] = [query.model, query.cls]
        if query.cameras:
            where.append(f"camera_id IN ({_marks(len(query.cameras))})")
            args.extend(query.cameras)
        if query.since is not None:
            where.append("seen_at >= ?")
            args.append(query.since)
        if query.until is not None:
            where.append("seen_at <= ?")
            args.append(query.until)
        cond = " AND ".join(where)
        cols = "tracklet_id, camera_id, seen_at, embedding"
        want = max(MIN_KEEP, KEEP_PER_HIT * query.k)
        self._vectors.sync(self._query)
        total = self._vectors.size(query.model, query.cls)
        filtered = bool(query.cameras) or query.since is not None or query.until is not None
        if filtered or not self._vectors.ready(query.model, query.cls):
            count = self._query(f"SELECT count(*) FROM sightings WHERE {cond}", tuple(args))[0][0]
        else:
            count = total
        if count <= max(EXACT_KNN_MAX, want):
            sql, params = f"SELECT {cols} FROM sightings WHERE {cond}", args
        else:
            n = min(total, int(want * total / max(count, 1)))
            keys = [k for k, _ in self._vectors.candidates(query.model, query.cls, vector, n)]
            # NOT INDEXED: look the candidates up by id, never scan the class
            sql = (
                f"SELECT {cols} FROM sightings NOT INDEXED "
                f"WHERE vec_id IN ({_marks(len(keys))}) AND {cond}"
            )
            params = [*keys, *args]
        with self._lock:
            found = self._best(self.db.execute(sql, params).fetchall(), vector, want)
            tracks = self._track_of([r[0] for r in found])
        return rerank(
            vector,
            [(t, c, at, np.frombuffer(e, np.float32), tracks.get(t)) for t, c, at, e in found],
            query.cls,
            query.k,
        )

    @staticmethod
    def _best(found: list[Any], vector: np.ndarray, want: int) -> list[Any]:
        """The ``want`` best candidates, before naming their tracks."""
        if len(found) <= want:
            return found
        matrix = np.frombuffer(b"".join(r[3] for r in found), np.float32)
        scores = matrix.reshape(len(found), -1) @ vector
        return [found[i] for i in np.argpartition(-scores, want)[:want]]

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.db.execute(sql, args).fetchall()

    def warm(self) -> int:
        """Open the saved vector graphs and take in what came after them now (the API
        calls this at start-up in the background), then wait for any graph rebuilt from
        the store; returns how many vectors were taken in."""
        added = self._vectors.sync(self._query)
        self._vectors.wait()
        return added

    def save_index(self, force: bool = False) -> bool:
        """The writer's (the indexer's): take in the store's changes and save the vector
        graphs when enough changed or long enough ago (``force``: whenever anything
        changed). True when saved."""
        if not self._vectors.writer:
            return False
        self._vectors.sync(self._query)
        return (force or self._vectors.due()) and self._vectors.save()

    def _track_of(self, tracklets: list[str]) -> dict[str, str]:
        """The track each tracklet belongs to (the latest one if two still name it)."""
        out: dict[str, str] = {}
        for chunk in _chunks(tracklets):
            rows = self.db.execute(
                "SELECT tt.tracklet_id, tt.track_id FROM track_tracklets tt JOIN tracks t "
                f"USING (track_id) WHERE tt.tracklet_id IN ({_marks(len(chunk))}) "
                "ORDER BY t.last_seen, t.track_id DESC",
                list(chunk),
            )
            out.update(rows.fetchall())
        return out

    # ---- retention and audits -------------------------------------------------------

    def versions(self) -> list[tuple[str, int]]:
        """Every (track, version) ever stored, for audits and the crash test."""
        with self._lock:
            return [
                (r[0], r[1])
                for r in self.db.execute(
                    "SELECT track_id, version FROM track_versions ORDER BY track_id, version"
                )
            ]

    def version_times(self) -> list[tuple[str, float, float, float]]:
        """(track id, last seen, emitted, stored) of every version of an open track: the
        capture of its newest frame, its emission by the stream app and its storing (a
        version that only closes a track after its timeout says nothing about latency)."""
        with self._lock:
            return [
                (r[0], r[1], r[2], r[3])
                for r in self.db.execute(
                    "SELECT track_id, last_seen, emitted_at, stored_at FROM track_versions "
                    "WHERE closed = 0"
                )
            ]

    data_classes: tuple[str, ...] = ("tracks", "plates_non_hit", "appearances", "traffic")

    def purge(self, data_class: str, before: float) -> int:
        """Retention (``civicsight.retention.Retainer``): delete one data class's records
        older than ``before``: tracks (last seen), plate reads (and plate texts no read
        needs any more), appearance vectors (seen), traffic bins (bin start)."""
        purge = {
            "tracks": self._purge_tracks,
            "plates_non_hit": self._purge_plates,
            "appearances": self._purge_sightings,
            "traffic": self._purge_traffic,
        }.get(data_class)
        if purge is None:
            raise ValueError(f"this store holds no {data_class!r}")
        with self._lock, self.db:
            return purge(before)

    def purge_before(self, cutoff: float) -> int:
        """Every data class at one cutoff; returns the tracks deleted."""
        with self._lock, self.db:
            gone = self._purge_tracks(cutoff)
            self._purge_plates(cutoff)
            self._purge_sightings(cutoff)
        return gone

    def _purge_tracks(self, cutoff: float) -> int:
        ids = [
            r[0]
            for r in self.db.execute("SELECT track_id FROM tracks WHERE last_seen < ?", (cutoff,))
        ]
        for chunk in _chunks([(i,) for i in ids]):
            self.db.executemany("DELETE FROM track_cameras WHERE track_id = ?", chunk)
            self.db.executemany("DELETE FROM track_tracklets WHERE track_id = ?", chunk)
        self.db.execute("DELETE FROM tracks WHERE last_seen < ?", (cutoff,))
        self.db.execute("DELETE FROM track_versions WHERE last_seen < ?", (cutoff,))
        # a tracklet's crop goes with its own track (same last_seen), whatever holds it now
        self.db.execute("DELETE FROM tracklet_crops WHERE last_seen < ?", (cutoff,))
        return len(ids)

    def _purge_plates(self, cutoff: float) -> int:
        texts = [
            r[0]
            for r in self.db.execute(
                "SELECT DISTINCT text_id FROM plate_reads WHERE seen_at < ?", (cutoff,)
            )
        ]
        gone = self.db.execute("DELETE FROM plate_reads WHERE seen_at < ?", (cutoff,)).rowcount
        for chunk in _chunks(texts):
            orphans = self.db.execute(
                f"SELECT text_id, text FROM plate_texts p WHERE text_id IN "
                f"({_marks(len(chunk))}) AND NOT EXISTS "
                "(SELECT 1 FROM plate_reads r WHERE r.text_id = p.text_id)",
                list(chunk),
            ).fetchall()
            self.db.executemany(
                "DELETE FROM plate_texts WHERE text_id = ?", [(i,) for i, _ in orphans]
            )
            self.db.executemany(
                "DELETE FROM plate_grams WHERE gram = ? AND text_id = ?",
                [(g, i) for i, t in orphans for g in plate_grams(t)],
            )
        return int(gone)

    def _purge_sightings(self, cutoff: float) -> int:
        self.db.execute("DELETE FROM sightings_gone WHERE gone_at < ?", (cutoff,))
        self.db.execute(
            "INSERT INTO sightings_gone (vec_id, gone_at) "
            "SELECT vec_id, ? FROM sightings WHERE seen_at < ?",
            (cutoff, cutoff),
        )
        return int(self.db.execute("DELETE FROM sightings WHERE seen_at < ?", (cutoff,)).rowcount)
