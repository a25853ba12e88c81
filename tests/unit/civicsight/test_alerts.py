"""Alert lifecycle (pure) and the alert store: two different people confirm, each step
audited, retention."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from civicsight.alert_store import SCHEMA as ALERT_SCHEMA_V1
from civicsight.alert_store import AlertStore
from civicsight.alerts import AlertError, confirm, dismiss, raise_alert, seen_again
from civicsight.audit import AuditLog
from civicsight.events import FaceObservation

T0 = 1_700_000_000.0


def obs(track: int = 7, at: float = T0, score: float = 0.4) -> FaceObservation:
    return FaceObservation(
        camera_id="gate",
        track_id=track,
        captured_at=at,
        watchlist_id="missing",
        entry_id="m-0042",
        score=score,
        threshold=0.5,
    )


@pytest.mark.parametrize(
    ("steps", "state", "error"),
    [
        ([("c", "alice")], "new", None),
        ([("c", "alice"), ("c", "bob")], "confirmed", None),
        ([("c", "alice"), ("c", "alice")], "new", "different person"),
        ([("c", "alice"), ("c", "alice"), ("c", "bob")], "confirmed", "different person"),
        ([("d", "alice")], "dismissed", None),
        ([("c", "alice"), ("d", "bob")], "dismissed", None),
        ([("c", "alice"), ("c", "bob"), ("c", "carol")], "confirmed", "already confirmed"),
        ([("d", "alice"), ("c", "bob")], "dismissed", "already dismissed"),
        ([("c", " ")], "new", "printable"),
    ],
    ids=["one", "two-different", "same-twice", "same-twice-then-other", "dismiss",
         "confirm-then-dismiss", "third-after-confirmed", "confirm-dismissed", "blank-user"],
)  # fmt: skip
def test_confirmed_only_after_two_different_people(
    steps: list[tuple[str, str]], state: str, error: str | None
) -> None:
    """Guards the four-eyes rule: one person (even twice) never confirms an alert alone."""
    alert = raise_alert(obs())
    errors: list[str] = []
    for i, (step, user) in enumerate(steps):
        try:
            if step == "c":
                alert = confirm(alert, user, T0 + i)
            else:
                alert = dismiss(alert, user, T0 + i, "not the person")
        except AlertError as err:
            errors.append(str(err))
    assert alert.state == state
    assert (error is None) == (not errors)
    if error:
        assert error in errors[0]


def test_a_dismissal_needs_a_reason() -> None:
    with pytest.raises(AlertError, match="reason"):
        dismiss(raise_alert(obs()), "alice", T0, "  ")


def test_repeated_matches_update_one_alert() -> None:
    first = raise_alert(obs(at=T0, score=0.3))
    again = seen_again(first, obs(at=T0 + 5, score=0.6))
    assert again.alert_id == first.alert_id
    assert (again.first_at, again.last_at, again.score) == (T0, T0 + 5, 0.6)
    assert raise_alert(obs(track=8)).alert_id != first.alert_id


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AlertStore]:
    with AuditLog(tmp_path) as audit:
        s = AlertStore(tmp_path / "alerts.db", audit)
        s.open()
        yield s
        s.close()


def test_every_step_is_audited(store: AlertStore) -> None:
    """Guards accountability: raising, each confirmation and a dismissal leave an entry
    naming who and when; a refused step changes nothing and is not logged as done."""
    alert, new = store.record_match(obs())
    assert new
    _, again = store.record_match(obs(at=T0 + 3))
    assert not again
    store.confirm(alert.alert_id, "alice", "investigator", T0 + 10)
    with pytest.raises(AlertError):
        store.confirm(alert.alert_id, "alice", "investigator", T0 + 11)
    done = store.confirm(alert.alert_id, "bob", "investigator", T0 + 12)
    assert done.state == "confirmed" and store.get(alert.alert_id) == done
    other, _ = store.record_match(obs(track=9, at=T0 + 15))
    store.dismiss(other.alert_id, "carol", "investigator", T0 + 20, "a lookalike")
    log = [(e.action, e.actor, e.details.get("state")) for e in store.audit.entries()]
    assert log == [
        ("alert.raised", "system", None),
        ("alert.confirm", "alice", "new"),
        ("alert.confirm", "bob", "confirmed"),
        ("alert.raised", "system", None),
        ("alert.dismiss", "carol", "dismissed"),
    ]
    assert store.audit.verify().ok
    assert [a.state for a in store.alerts()] == ["confirmed", "dismissed"]
    assert [a.alert_id for a in store.alerts("dismissed")] == [other.alert_id]


def test_unknown_alert_is_a_clear_error(store: AlertStore) -> None:
    with pytest.raises(AlertError, match="no alert"):
        store.confirm("a-0000000000000000", "alice", "investigator", T0)


def test_retention_deletes_alerts_last_seen_before_the_cutoff(store: AlertStore) -> None:
    store.record_match(obs(track=1, at=T0))
    store.record_match(obs(track=2, at=T0 + 100))
    assert store.purge("alerts", T0 + 50) == 1
    assert [a.track_id for a in store.alerts()] == [2]


def jpeg(shade: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((40, 32, 3), shade, np.uint8))
    assert ok
    return buf.tobytes()


def test_the_alert_keeps_the_face_of_its_best_match_until_reviewed(store: AlertStore) -> None:
    """Guards the evidence reviewers see: the face of the best match so far, the score and
    threshold that go with it; once someone has confirmed, a later better match changes
    neither, so the second reviewer judges the same face as the first."""
    alert, _ = store.record_match(obs(score=0.3), jpeg(10))
    store.record_match(obs(at=T0 + 1, score=0.2), jpeg(20))  # worse: face stays
    assert store.face(alert.alert_id) == jpeg(10)
    better, _ = store.record_match(obs(at=T0 + 2, score=0.6), jpeg(30))
    assert store.face(alert.alert_id) == jpeg(30)
    assert (better.score, better.threshold) == (0.6, 0.5)
    store.confirm(alert.alert_id, "alice", "operator", T0 + 3)
    after, _ = store.record_match(obs(at=T0 + 4, score=0.9), jpeg(40))
    assert store.face(alert.alert_id) == jpeg(30)
    assert after.score == 0.6 and after.last_at == T0 + 4


@pytest.mark.parametrize("face", [b"GIF89a...", b"\xff\xd8\xff" + b"x" * (512 * 1024)])
def test_only_a_small_jpeg_is_kept_as_the_face(store: AlertStore, face: bytes) -> None:
    """Guards the store against keeping anything but a review-sized JPEG."""
    with pytest.raises(ValueError, match="JPEG of at most"):
        store.record_match(obs(), face)
    assert store.alerts() == []


def test_retention_deletes_the_face_with_its_alert(store: AlertStore) -> None:
    """Guards retention of face images: no face outlives its alert, not even in the file's
    free pages (secure_delete) or its write-ahead log."""
    marker = jpeg(77) + b"FACE-MARKER-1234"
    old, _ = store.record_match(obs(track=1, at=T0), marker)
    store.record_match(obs(track=2, at=T0 + 100), jpeg(5))
    assert store.purge("alerts", T0 + 50) == 1
    assert store.face(old.alert_id) is None
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert b"FACE-MARKER-1234" not in store.path.read_bytes()


def test_an_alert_file_from_before_faces_were_kept_is_upgraded(tmp_path: Path) -> None:
    """Guards the migration: an alerts.db of schema version 1 (no face column, alerts
    without a threshold) opens, its alerts read as before, and its next match adds the
    face."""
    old = raise_alert(obs()).model_dump(exclude={"threshold"})
    db = sqlite3.connect(tmp_path / "alerts.db")
    db.executescript(ALERT_SCHEMA_V1)
    db.execute(
        "INSERT INTO alerts VALUES (?, 'new', ?, ?, ?)",
        (old["alert_id"], T0, T0, json.dumps(old)),
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with AuditLog(tmp_path) as audit:
        store = AlertStore(tmp_path / "alerts.db", audit)
        store.open()
        (alert,) = store.alerts()
        assert alert.threshold is None and store.face(alert.alert_id) is None
        store.record_match(obs(at=T0 + 1, score=0.1), jpeg(9))
        assert store.face(alert.alert_id) == jpeg(9)
        store.close()
