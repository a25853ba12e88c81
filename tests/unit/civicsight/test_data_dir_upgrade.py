"""A data folder made by the hub before schema versions (commit 99663d4, 2026-11, kept in
tests/fixtures/datadir-2026-11: its token, user, tracks, plate reads, appearance vectors,
audit log, alert and watchlist entry) opened by today's stores: every file is upgraded
to its latest schema version and nothing is lost."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.auth import TokenStore
from civicsight.store import PlateQuery, SimilarQuery
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.users import UserStore
from civicsight.watchlist import WatchlistStore

OLD = Path(__file__).resolve().parents[2] / "fixtures" / "datadir-2026-11"
FIXTURE = json.loads((OLD / "FIXTURE.json").read_text())


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(OLD, folder)
    return folder


def version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def test_the_old_files_have_no_schema_version(data: Path) -> None:
    """The fixture really is the old layout (a regenerated fixture would prove nothing)."""
    for name in ("auth.db", "tracks.db", "audit.db", "alerts.db", "watchlist.db"):
        assert version(data / name) == 0, name


@pytest.fixture
def audit(data: Path) -> Iterator[AuditLog]:
    with AuditLog(data) as log:
        yield log


def test_auth_tokens_and_users_survive(data: Path) -> None:
    tokens, users = TokenStore(data / "auth.db"), UserStore(data / "auth.db")
    tokens.open()
    users.open()
    try:
        (info,) = tokens.issued()
        who = tokens.verify(FIXTURE["token"], now=info.created_at + 60)
        assert who is not None and who.label == "desk from 2026-11"
        assert info.expires_at == pytest.approx(info.created_at + 30 * 86400)  # no longer eternal
        assert users.exists("vera")
        assert users.login("vera", "a long old passphrase", "test", FIXTURE["t0"] + 10)
    finally:
        tokens.close()
        users.close()
    assert version(data / "auth.db") == len(TokenStore.migrations)


def test_tracks_plates_and_vectors_survive(data: Path) -> None:
    store = SqliteTrackStore(data / "tracks.db")
    store.open()
    try:
        t0 = FIXTURE["t0"]
        assert [store.get(f"g-old-{i}") is not None for i in range(3)] == [True] * 3
        assert store.crop("g-old-1") is not None
        page = store.search_plates(PlateQuery("exact", "AB121CD", since=t0 - 1, until=t0 + 100))
        assert [h.track_id for h in page.items] == ["g-old-1"]
        store.warm()
        hits = store.search_similar(
            SimilarQuery([0.0, 0.0, 1.0, 0, 0, 0, 0, 0], "car", "old-model@1", 3, (), t0 - 1, None)
        )
        assert hits and hits[0].track_id == "g-old-2"
    finally:
        store.close()
    assert version(data / "tracks.db") == len(SqliteTrackStore.migrations)


def test_the_audit_log_still_verifies(audit: AuditLog, data: Path) -> None:
    assert audit.verify().ok
    actions = [e.action for e in audit.entries()]
    assert actions[:2] == ["login", "search.plates"]
    audit.append("local", "local", "retention.run", {"deleted": 0})
    assert audit.verify().ok
    assert version(data / "audit.db") == len(AuditLog.migrations)


def test_alerts_and_the_watchlist_survive(audit: AuditLog, data: Path) -> None:
    alerts = AlertStore(data / "alerts.db", audit)
    watchlist = WatchlistStore(data / "watchlist.db", audit)
    alerts.open()
    watchlist.open()
    try:
        (alert,) = alerts.alerts()
        assert (alert.camera_id, alert.entry_id, alert.state) == ("gate", "e-0001", "new")
        ((entry, vectors),) = watchlist.entries()
        assert entry.label == "Old Example" and vectors == 1
    finally:
        alerts.close()
        watchlist.close()
    assert version(data / "alerts.db") == len(AlertStore.migrations)
    assert version(data / "watchlist.db") == len(WatchlistStore.migrations)
