"""The face watchlist: entries, their enrolled embeddings and a reference photo in
``<data_dir>/watchlist.db``.

The only faces the hub can recognise are the ones enrolled here, each for a case (a case
id and a stated reason), by a named person, until an expiry date no more than a year
away. Expired entries are never matched (``index`` leaves them out) and are deleted by
``purge_expired``, which the faces service, the watchlist CLI and retention run. The file
is readable by its owner only, and deleted rows are overwritten (``secure_delete``).

Every change is written to the audit log (``civicsight.audit``) in the same transaction:
``watchlist.add`` (by the enrolling user), ``watchlist.remove`` (by who removed it) and
``watchlist.expired`` (by ``system``). The person's label never goes to the audit log.
Who may change the watchlist (roles) is the API's business.

Each entry keeps one reference photo: the enrolled face, cut from the first enrolment
photo with a margin (``civicsight.faces.face_crop_jpeg``), so that a reviewer can set it
beside the face of an alert. It is a column of the entry's row, so it goes with the entry
(removal, expiry) and is overwritten on deletion like the rest.

It lives in the kernel because the faces service (matching), its command line and the
API (enrolment and alert review) all open it, and services never import each other.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from civicsight.audit import AuditLog, CaseId
from civicsight.faces import (
    DEFAULT_MIN_FACE_PX,
    DEFAULT_THRESHOLD,
    EMBEDDING_DIM,
    EnrolmentError,
    WatchlistIndex,
    check_enrolment,
    enrolment_face,
    face_crop_jpeg,
)
from civicsight.settings import HubSettings
from civicsight.sqlite_file import SqliteFile

MAX_DAYS = 365
DAY_S = 86400.0
ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
ENROL_MIN_SCORE = 0.8
"""Detector score an enrolment face needs. YuNet scores real faces in the sample photos
0.92-0.95 and its false hits (a painted background) 0.63-0.70: enrolment takes no chances."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
  watchlist_id TEXT NOT NULL,
  entry_id TEXT NOT NULL,
  label TEXT NOT NULL,
  case_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  added_by TEXT NOT NULL,
  added_at REAL NOT NULL,
  expires_at REAL NOT NULL,
  PRIMARY KEY (watchlist_id, entry_id)
);
CREATE TABLE IF NOT EXISTS embeddings (
  watchlist_id TEXT NOT NULL,
  entry_id TEXT NOT NULL,
  n INTEGER NOT NULL,
  vector BLOB NOT NULL,
  PRIMARY KEY (watchlist_id, entry_id, n)
);
"""
REFERENCE_PHOTO = """
ALTER TABLE entries ADD COLUMN reference BLOB;
"""
"""Step 2: the enrolled face as JPEG, kept with (and deleted with) its entry. Entries
enrolled before it have none."""
MAX_REFERENCE_BYTES = 512 * 1024


class FaceMatchSettings(HubSettings):
    """What matching and enrolment must agree on (the same models, threshold and least
    face size), read by the faces service, its command line and the API alike."""

    watchlist_path: Path | None = Field(
        None, description="watchlist SQLite file (default DATA_DIR/watchlist.db)"
    )
    face_detector: str = Field(
        "face-det-yunet-s", description="face detector name in models/registry.yaml"
    )
    face_embedder: str = Field(
        "face-embed-dlib-resnet", description="face embedding name in models/registry.yaml"
    )
    face_threshold: float = Field(
        DEFAULT_THRESHOLD,
        gt=0,
        le=1,
        description="L2 distance below which a face matches a watchlist entry",
    )
    face_min_px: int = Field(
        DEFAULT_MIN_FACE_PX, ge=8, le=1024, description="narrower faces are not matched"
    )
    face_detect_score: float = Field(0.6, gt=0, lt=1, description="least face detector score")

    @property
    def watchlist_file(self) -> Path:
        return self.watchlist_path or self.data_dir / "watchlist.db"

    @property
    def alerts_file(self) -> Path:
        return self.data_dir / "alerts.db"


class WatchlistError(ValueError):
    """A watchlist change that cannot be made; the message says why."""


class WatchlistEntry(BaseModel):
    """Who is on a watchlist, why, on whose word, and until when."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    watchlist_id: str = Field(pattern=ID_PATTERN, description="which watchlist (lower-case id)")
    entry_id: str = Field(
        pattern=ID_PATTERN, description="opaque entry id, published on matches (not a name)"
    )
    label: str = Field(min_length=1, max_length=120, description="who this is; never published")
    case_id: CaseId
    reason: str = Field(min_length=1, max_length=500, description="why this person is enrolled")
    added_by: str = Field(min_length=1, max_length=120, description="who enrolled the entry")
    added_at: float = Field(ge=0, description="Unix time of enrolment")
    expires_at: float = Field(ge=0, description="Unix time after which it never matches")

    @model_validator(mode="after")
    def _bounded(self) -> WatchlistEntry:
        for name in ("label", "reason", "added_by"):
            value: str = getattr(self, name)
            if not value.strip() or not value.isprintable():
                raise ValueError(f"{name} must be printable text")
        if self.expires_at <= self.added_at:
            raise ValueError("expires_at must be after added_at")
        if self.expires_at - self.added_at > MAX_DAYS * DAY_S:
            raise ValueError(f"an entry may last at most {MAX_DAYS} days")
        return self

    def expired(self, now: float) -> bool:
        return self.expires_at <= now


class WatchlistStore(SqliteFile):
    """SQLite watchlist, audited. Lifecycle: open() ... close()."""

    migrations = (SCHEMA, REFERENCE_PHOTO)
    pragmas = ("secure_delete = ON",)
    data_classes: tuple[str, ...] = ("watchlist",)

    def __init__(self, path: Path, audit: AuditLog) -> None:
        super().__init__(path)
        self.audit = audit

    def open(self) -> None:
        super().open()
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(entries)")}
        if "case_id" not in columns:
            raise WatchlistError(
                f"{self.path} predates case ids; re-enrol its entries into a new file"
            )

    def add(
        self,
        entry: WatchlistEntry,
        vectors: np.ndarray,
        *,
        role: str,
        reference: bytes | None = None,
    ) -> None:
        """Store ``entry`` with its (n, 128) enrolled embeddings and its reference photo
        (JPEG of the enrolled face); audited as done by ``entry.added_by`` acting in
        ``role``."""
        if reference is not None and (
            not reference.startswith(b"\xff\xd8\xff") or len(reference) > MAX_REFERENCE_BYTES
        ):
            raise WatchlistError(
                f"the reference photo must be a JPEG of at most {MAX_REFERENCE_BYTES} bytes"
            )
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != EMBEDDING_DIM or not len(vectors):
            raise WatchlistError(f"expected (n, {EMBEDDING_DIM}) embeddings, got {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise WatchlistError("embeddings must be finite")
        try:
            with self._lock, self.db:
                self.db.execute(
                    "INSERT INTO entries (watchlist_id, entry_id, label, case_id, reason, "
                    "added_by, added_at, expires_at, reference) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        entry.watchlist_id,
                        entry.entry_id,
                        entry.label,
                        entry.case_id,
                        entry.reason,
                        entry.added_by,
                        entry.added_at,
                        entry.expires_at,
                        reference,
                    ),
                )
                self.db.executemany(
                    "INSERT INTO embeddings VALUES (?, ?, ?, ?)",
                    [
                        (entry.watchlist_id, entry.entry_id, n, v.tobytes())
                        for n, v in enumerate(vectors)
                    ],
                )
                self.audit.append(
                    entry.added_by,
                    role,
                    "watchlist.add",
                    {
                        "watchlist_id": entry.watchlist_id,
                        "entry_id": entry.entry_id,
                        "case_id": entry.case_id,
                        "reason": entry.reason,
                        "expires_at": entry.expires_at,
                        "photos": len(vectors),
                        "reference_photo": reference is not None,
                    },
                    at=entry.added_at,
                )
        except sqlite3.IntegrityError:
            raise WatchlistError(
                f"{entry.watchlist_id}/{entry.entry_id} is already on the watchlist; remove it "
                "first"
            ) from None

    def remove(
        self,
        watchlist_id: str,
        entry_id: str,
        *,
        actor: str,
        role: str,
        reason: str | None = None,
    ) -> bool:
        """Delete an entry, its embeddings and its reference photo; True if it existed
        (then audited, with ``reason`` when one is given)."""
        with self._lock, self.db:
            row = self.db.execute(
                "SELECT case_id FROM entries WHERE watchlist_id = ? AND entry_id = ?",
                (watchlist_id, entry_id),
            ).fetchone()
            self.db.execute(
                "DELETE FROM entries WHERE watchlist_id = ? AND entry_id = ?",
                (watchlist_id, entry_id),
            )
            self.db.execute(
                "DELETE FROM embeddings WHERE watchlist_id = ? AND entry_id = ?",
                (watchlist_id, entry_id),
            )
            if row is not None:
                self.audit.append(
                    actor,
                    role,
                    "watchlist.remove",
                    {
                        "watchlist_id": watchlist_id,
                        "entry_id": entry_id,
                        "case_id": row[0],
                        **({"reason": reason} if reason is not None else {}),
                    },
                )
        self._checkpoint()
        return row is not None

    def purge_expired(self, now: float) -> int:
        """Delete every entry (and its embeddings) expired at ``now``; how many. Each
        deletion is audited (actor ``system``)."""
        with self._lock, self.db:
            expired = self.db.execute(
                "SELECT watchlist_id, entry_id, case_id, expires_at FROM entries "
                "WHERE expires_at <= ? ORDER BY watchlist_id, entry_id",
                (now,),
            ).fetchall()
            self.db.execute("DELETE FROM entries WHERE expires_at <= ?", (now,))
            self.db.execute(
                "DELETE FROM embeddings WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE "
                "e.watchlist_id = embeddings.watchlist_id AND e.entry_id = embeddings.entry_id)"
            )
            for watchlist_id, entry_id, case_id, expires_at in expired:
                self.audit.append(
                    "system",
                    "system",
                    "watchlist.expired",
                    {
                        "watchlist_id": watchlist_id,
                        "entry_id": entry_id,
                        "case_id": case_id,
                        "expires_at": expires_at,
                    },
                )
        if expired:
            self._checkpoint()
        return len(expired)

    def purge(self, data_class: str, before: float) -> int:
        """Retention (``civicsight.retention.Retainer``): entries expired by ``before``."""
        if data_class != "watchlist":
            raise ValueError(f"the watchlist holds only 'watchlist', not {data_class!r}")
        return self.purge_expired(before)

    def _checkpoint(self) -> None:
        """Fold the WAL back into the file, so deleted embeddings do not linger in it."""
        with self._lock:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def entries(self) -> list[tuple[WatchlistEntry, int]]:
        """Every stored entry with its number of embeddings (expired ones until purged)."""
        return self._entries("", ())

    def _entries(self, where: str, args: tuple[str, ...]) -> list[tuple[WatchlistEntry, int]]:
        with self._lock:
            rows = self.db.execute(
                "SELECT e.watchlist_id, e.entry_id, e.label, e.case_id, e.reason, e.added_by, "
                "e.added_at, e.expires_at, (SELECT COUNT(*) FROM embeddings m WHERE "
                f"m.watchlist_id = e.watchlist_id AND m.entry_id = e.entry_id) FROM entries e "
                f"{where} ORDER BY e.watchlist_id, e.entry_id",
                args,
            ).fetchall()
        return [
            (
                WatchlistEntry(
                    watchlist_id=r[0],
                    entry_id=r[1],
                    label=r[2],
                    case_id=r[3],
                    reason=r[4],
                    added_by=r[5],
                    added_at=r[6],
                    expires_at=r[7],
                ),
                int(r[8]),
            )
            for r in rows
        ]

    def entry(self, watchlist_id: str, entry_id: str) -> WatchlistEntry | None:
        """One stored entry (expired ones until purged), or None."""
        found = [
            e
            for e, _ in self._entries(
                "WHERE e.watchlist_id = ? AND e.entry_id = ?", (watchlist_id, entry_id)
            )
        ]
        return found[0] if found else None

    def reference(self, watchlist_id: str, entry_id: str) -> bytes | None:
        """The entry's reference photo (JPEG), or None (no such entry, or none kept)."""
        with self._lock:
            row = self.db.execute(
                "SELECT reference FROM entries WHERE watchlist_id = ? AND entry_id = ?",
                (watchlist_id, entry_id),
            ).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def with_reference(self) -> set[tuple[str, str]]:
        """The (watchlist_id, entry_id) of the entries that keep a reference photo."""
        with self._lock:
            rows = self.db.execute(
                "SELECT watchlist_id, entry_id FROM entries WHERE reference IS NOT NULL"
            ).fetchall()
        return {(str(w), str(e)) for w, e in rows}

    def index(self, now: float) -> WatchlistIndex:
        """The embeddings of the entries still valid at ``now``, ready for matching."""
        with self._lock:
            rows = self.db.execute(
                "SELECT e.watchlist_id, e.entry_id, e.expires_at, m.vector FROM entries e "
                "JOIN embeddings m ON m.watchlist_id = e.watchlist_id AND m.entry_id = "
                "e.entry_id WHERE e.expires_at > ? ORDER BY e.watchlist_id, e.entry_id, m.n",
                (now,),
            ).fetchall()
        return WatchlistIndex.build((w, e, x, np.frombuffer(v, np.float32)) for w, e, x, v in rows)


class FoundFaces(Protocol):
    """The faces a detector found in one image (``models.runtimes.face_detector.Faces``)."""

    @property
    def boxes(self) -> np.ndarray: ...
    @property
    def scores(self) -> np.ndarray: ...
    @property
    def widths(self) -> np.ndarray: ...


class FaceEncoding(Protocol):
    """What enrolment needs from the face models
    (``models.runtimes.face_encoder.FaceEncoder``)."""

    def faces(self, image: np.ndarray) -> FoundFaces: ...
    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray: ...


def enrol(
    watchlist: WatchlistStore,
    entry: WatchlistEntry,
    images: Sequence[tuple[str, np.ndarray]],
    encoder: FaceEncoding,
    threshold: float,
    min_face_px: float,
    *,
    role: str,
    min_score: float = ENROL_MIN_SCORE,
) -> int:
    """Enrol ``entry`` from (name, BGR image) photos, each showing that person alone.

    Every photo must hold exactly one clear face, and all photos must lie within
    ``threshold`` of each other (one person). The face of the first photo is kept as the
    entry's reference photo. Returns the number of embeddings stored.
    """
    if not images:
        raise EnrolmentError("no photos to enrol from")
    names: list[str] = []
    vectors: list[np.ndarray] = []
    reference: bytes | None = None
    for name, image in images:
        faces = encoder.faces(image)
        chosen = enrolment_face(name, faces.widths, faces.scores, min_face_px, min_score)
        names.append(name)
        box = faces.boxes[chosen : chosen + 1]
        vectors.append(encoder.embed(image, box)[0])
        if reference is None:
            reference = face_crop_jpeg(image, box[0])
    stacked = np.stack(vectors).astype(np.float32)
    check_enrolment(names, stacked, threshold)
    watchlist.add(entry, stacked, role=role, reference=reference)
    return len(stacked)
