"""Alerts in ``<data_dir>/alerts.db``, every step written to the audit log.

Each change runs in one ``BEGIN IMMEDIATE`` transaction (safe across the faces service,
the API and the command line) and appends its audit entry before the commit: a change
that cannot be audited is not made.

    store = AlertStore(data_dir / "alerts.db", audit)
    store.open()
    alert, new = store.record_match(observation, face_jpeg)  # faces service (actor system)
    store.confirm(alert_id, user="alice", role="investigator", at=time.time())
    store.dismiss(alert_id, user="bob", role="investigator", at=..., reason="not him")
    store.alerts(state="new") / store.get(alert_id) / store.face(alert_id)

Each alert keeps the face the faces service matched (JPEG, cut from the crop with a
margin by ``civicsight.faces.face_crop_jpeg``) for the people who review it: the face of
its best match, replaced when a later match of the same track scores higher. It is a
column of the alert's row, so retention deletes it with the alert. A face that matched
nothing never reaches this store.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from civicsight.alerts import (
    Alert,
    AlertError,
    AlertState,
    better_match,
    confirm,
    dismiss,
    raise_alert,
    seen_again,
)
from civicsight.audit import AuditLog
from civicsight.events import FaceObservation
from civicsight.sqlite_file import SqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
  alert_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  first_at REAL NOT NULL,
  last_at REAL NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, first_at);
"""
MATCHED_FACE = """
ALTER TABLE alerts ADD COLUMN face BLOB;
"""
"""Step 2: the matched face (JPEG) kept for review with its alert."""
MAX_FACE_BYTES = 512 * 1024


class AlertStore(SqliteFile):
    """SQLite alert store. Lifecycle: open() ... close()."""

    migrations = (SCHEMA, MATCHED_FACE)
    pragmas = ("secure_delete = ON",)
    data_classes: tuple[str, ...] = ("alerts",)

    def __init__(self, path: Path, audit: AuditLog) -> None:
        super().__init__(path)
        self.audit = audit

    def open(self) -> None:
        super().open()
        self.db.isolation_level = None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def _load(self, alert_id: str) -> Alert | None:
        row = self.db.execute("SELECT doc FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
        return None if row is None else Alert.model_validate_json(row[0])

    def _save(self, alert: Alert) -> None:
        self.db.execute(
            "INSERT INTO alerts (alert_id, state, first_at, last_at, doc) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (alert_id) DO UPDATE SET "
            "state = excluded.state, first_at = excluded.first_at, last_at = excluded.last_at, "
            "doc = excluded.doc",
            (alert.alert_id, alert.state, alert.first_at, alert.last_at, alert.model_dump_json()),
        )

    def record_match(self, obs: FaceObservation, face: bytes | None = None) -> tuple[Alert, bool]:
        """The alert for a face match, and whether it is new (then audited). ``face``: the
        matched face as JPEG, kept if the alert is new, had none, or this match is its
        best so far."""
        if face is not None and (
            not face.startswith(b"\xff\xd8\xff") or len(face) > MAX_FACE_BYTES
        ):
            raise ValueError(f"the matched face must be a JPEG of at most {MAX_FACE_BYTES} bytes")
        fresh = raise_alert(obs)
        with self._transaction():
            old = self._load(fresh.alert_id)
            alert = fresh if old is None else seen_again(old, obs)
            self._save(alert)
            keep = old is None or better_match(old, obs) or not self._face_settled(old)
            if face is not None and keep:
                self.db.execute(
                    "UPDATE alerts SET face = ? WHERE alert_id = ?", (face, alert.alert_id)
                )
            if old is None:
                self.audit.append(
                    "system",
                    "system",
                    "alert.raised",
                    {
                        "alert_id": alert.alert_id,
                        "camera_id": alert.camera_id,
                        "track_id": alert.track_id,
                        "watchlist_id": alert.watchlist_id,
                        "entry_id": alert.entry_id,
                        "score": round(alert.score, 3),
                    },
                    at=obs.captured_at,
                )
        return alert, old is None

    def _review(self, alert_id: str, user: str, role: str, at: float, reason: str | None) -> Alert:
        with self._transaction():
            old = self._load(alert_id)
            if old is None:
                raise AlertError(f"no alert {alert_id!r}")
            if reason is None:
                alert = confirm(old, user, at)
                action = "alert.confirm"
                details: dict[str, object] = {
                    "confirmations": len(alert.confirmations),
                    "state": alert.state,
                }
            else:
                alert = dismiss(old, user, at, reason)
                action, details = "alert.dismiss", {"reason": reason, "state": alert.state}
            self._save(alert)
            self.audit.append(user, role, action, {"alert_id": alert_id, **details}, at=at)
        return alert

    def confirm(self, alert_id: str, user: str, role: str, at: float) -> Alert:
        return self._review(alert_id, user, role, at, None)

    def dismiss(self, alert_id: str, user: str, role: str, at: float, reason: str) -> Alert:
        return self._review(alert_id, user, role, at, reason)

    def get(self, alert_id: str) -> Alert | None:
        with self._lock:
            return self._load(alert_id)

    def _face_settled(self, alert: Alert) -> bool:
        """Whether the alert's face stays as it is: it was reviewed, or it has one. An
        unreviewed alert without one (raised before faces were kept) takes the next
        match's."""
        if alert.state != "new" or alert.confirmations:
            return True  # reviewed evidence stays as it was
        row = self.db.execute(
            "SELECT face IS NOT NULL FROM alerts WHERE alert_id = ?", (alert.alert_id,)
        ).fetchone()
        return bool(row and row[0])

    def face(self, alert_id: str) -> bytes | None:
        """The matched face kept with the alert (JPEG), or None."""
        with self._lock:
            row = self.db.execute(
                "SELECT face FROM alerts WHERE alert_id = ?", (alert_id,)
            ).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def alerts(self, state: AlertState | None = None) -> list[Alert]:
        sql = "SELECT doc FROM alerts"
        args: tuple[str, ...] = ()
        if state is not None:
            sql, args = sql + " WHERE state = ?", (state,)
        with self._lock:
            rows = self.db.execute(sql + " ORDER BY first_at, alert_id", args).fetchall()
        return [Alert.model_validate(json.loads(r[0])) for r in rows]

    def with_face(self) -> set[str]:
        """The ids of the alerts that keep a face."""
        with self._lock:
            rows = self.db.execute("SELECT alert_id FROM alerts WHERE face IS NOT NULL").fetchall()
        return {str(r[0]) for r in rows}

    def counts(self) -> dict[str, int]:
        """How many alerts there are in each state."""
        with self._lock:
            rows = self.db.execute("SELECT state, COUNT(*) FROM alerts GROUP BY state").fetchall()
        return {str(state): int(n) for state, n in rows}

    def purge(self, data_class: str, before: float) -> int:
        """Retention: delete alerts last seen before ``before``."""
        if data_class != "alerts":
            raise ValueError(f"the alert store holds only 'alerts', not {data_class!r}")
        with self._transaction():
            gone = self.db.execute("DELETE FROM alerts WHERE last_at < ?", (before,)).rowcount
        return int(gone)
