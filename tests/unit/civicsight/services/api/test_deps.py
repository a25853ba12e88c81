"""What the API is built with (``ApiState``) and how routes reach it (``deps.py``): there
is no API without its audit log, the optional parts answer in words, role checks come
before them, and no route reaches the app's parts around the dependencies. Real SQLite
stores and audit log, FastAPI's TestClient."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.services.api.app import ROUTERS, create_app
from civicsight.services.api.state import ApiState, MissingAuditLogError
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.watchlist import WatchlistStore
from tests.support import REPO

from .conftest import track_specs

API = REPO / "civicsight" / "services" / "api"
TRACK = track_specs()[0].track_id
WHY = {"case": "C-1", "purpose": "unit test of the API"}


@pytest.mark.parametrize(
    "audit",
    [None, object(), "audit.db", Path("audit.db")],
    ids=["none", "object", "a-name", "a-path"],
)
def test_there_is_no_api_without_an_audit_log(
    store: SqliteTrackStore, tokens: TokenStore, audit: Any
) -> None:
    """Guards an API that answers searches it cannot record (the issue's
    ``create_app(audit_log=None)``): the state refuses anything but an audit log."""
    with pytest.raises(MissingAuditLogError, match="audit log"):
        ApiState(store=store, tokens=tokens, audit=audit)


def test_create_app_takes_only_a_built_state(store: SqliteTrackStore, tokens: TokenStore) -> None:
    """Guards an app built from loose parts around the state's check."""
    with pytest.raises(MissingAuditLogError):
        create_app(store)  # type: ignore[arg-type]


@pytest.mark.parametrize("part", ["alerts", "watchlist"])
def test_the_faces_stores_record_into_the_apis_own_audit_log(
    tmp_path: Path, store: SqliteTrackStore, tokens: TokenStore, trail: AuditLog, part: str
) -> None:
    """Guards alert reviews or enrolments recorded in a log the auditor never reads."""
    other = AuditLog(tmp_path / "other")
    kind = AlertStore if part == "alerts" else WatchlistStore
    with pytest.raises(MissingAuditLogError, match=part):
        ApiState(store=store, tokens=tokens, audit=trail, **{part: kind(tmp_path / "x.db", other)})


def test_the_state_is_set_once_and_frozen(
    store: SqliteTrackStore, tokens: TokenStore, trail: AuditLog
) -> None:
    """Guards a route (or a test) swapping the audit log of a running app."""
    state = ApiState(store=store, tokens=tokens, audit=trail)
    app = create_app(state)
    assert app.state.api is state
    with pytest.raises(AttributeError):
        state.audit = None  # type: ignore[misc]


def test_no_module_reads_the_app_state_around_the_dependencies() -> None:
    """Guards a route that reaches the app's parts through ``app.state`` (as the old
    ``audit_log(request)`` did) instead of the one state ``create_app`` sets."""
    readers = {
        p.name
        for p in API.glob("*.py")
        if re.search(r"\bapp\.state\b", p.read_text()) and p.name not in {"app.py", "state.py"}
    }
    assert readers == set()


def test_every_router_is_built_at_import() -> None:
    """Guards a router factory coming back (a closure per app over its parts)."""
    for router in ROUTERS:
        assert router.routes, router
    factories = {
        p.name for p in API.glob("*.py") if re.search(r"^def \w+_router\(", p.read_text(), re.M)
    }
    assert factories == set()


@pytest.fixture
def bare(
    store: SqliteTrackStore, tokens: TokenStore, trail: AuditLog
) -> Iterator[tuple[TestClient, TokenStore, AuditLog]]:
    """A hub with only the required parts: no users, bus, models or faces stores."""
    with TestClient(create_app(ApiState(store=store, tokens=tokens, audit=trail))) as client:
        yield client, tokens, trail


MERGE = {"other_track_id": "t-other", "reason": "same van on both gates"}
PNG = {"image": ("a.png", b"\x89PNG\r\n\x1a\n", "image/png")}
# (what is missing, role, method, path, request keywords, status, words of the answer)
MISSING = [
    ("alert store", Role.OPERATOR, "GET", "/api/alerts", {}, 503, "no alert store"),
    ("alert store", Role.OPERATOR, "POST", "/api/alerts/a-0000000000000000/confirm", {}, 503,
     "no alert store"),
    ("watchlist", Role.INVESTIGATOR, "GET", "/api/watchlist", {}, 503, "no watchlist store"),
    ("watchlist", Role.INVESTIGATOR, "DELETE", "/api/watchlist/w/e-1?reason=gone+now", {}, 503,
     "no watchlist store"),
    ("bus", Role.INVESTIGATOR, "POST", f"/api/tracks/{TRACK}/merge", {"json": MERGE}, 503,
     "corrections need the bus"),
    ("re-ID models", Role.INVESTIGATOR, "POST", "/api/search/image",
     {"files": PNG, "data": {"cls": "person", **WHY}}, 503, "needs the re-ID models"),
    ("users", None, "POST", "/api/auth/login", {"json": {"username": "ana", "password": "x"}},
     404, "password sign-in is not enabled"),
    ("users", Role.ADMIN, "GET", "/api/admin/users", {}, 404, "password sign-in is not enabled"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("missing", "role", "method", "path", "kwargs", "status", "words"),
    MISSING,
    ids=[f"{m[0]}: {m[2]} {m[3].split('?')[0]}" for m in MISSING],
)
def test_a_missing_part_answers_in_words(
    bare: tuple[TestClient, TokenStore, AuditLog],
    missing: str,
    role: Role | None,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    words: str,
) -> None:
    """Guards a hub without an optional part crashing (500) or pretending (200) instead of
    saying what it lacks, and such a request leaving an audit entry of something done."""
    client, tokens, trail = bare
    headers = {"Authorization": f"Bearer {tokens.issue(role, 'desk')}"} if role else {}
    before = len(trail.entries())
    resp = client.request(method, path, headers=headers, **kwargs)
    assert resp.status_code == status, resp.text
    assert words in resp.json()["detail"]
    assert len(trail.entries()) == before


@pytest.mark.parametrize(
    ("role", "path"),
    [
        (Role.VIEWER, "/api/alerts"),
        (Role.OPERATOR, "/api/watchlist"),
        (Role.TRAFFIC_ANALYST, f"/api/tracks/{TRACK}/merge"),
    ],
)
def test_the_role_is_checked_before_the_hub_says_what_it_lacks(
    bare: tuple[TestClient, TokenStore, AuditLog], role: Role, path: str
) -> None:
    """Guards a 503 telling a role that may not use a route what this hub has."""
    client, tokens, _ = bare
    headers = {"Authorization": f"Bearer {tokens.issue(role, 'desk')}"}
    method = "POST" if path.endswith("merge") else "GET"
    resp = client.request(method, path, headers=headers, json=MERGE if method == "POST" else None)
    assert resp.status_code == 403, resp.text


def test_every_audited_route_records_into_the_apps_own_log(
    bare: tuple[TestClient, TokenStore, AuditLog],
) -> None:
    """Guards a route that answers a search without an entry in the log the app was
    built with (the log comes from the state, for every route alike)."""
    client, tokens, trail = bare
    ivy = {"Authorization": f"Bearer {tokens.issue(Role.INVESTIGATOR, 'ivy')}"}
    calls = [
        ("/api/tracks", WHY, ivy, "search.tracks"),
        ("/api/search/plates", {**WHY, "pattern": "AB1"}, ivy, "search.plates"),
        (f"/api/tracks/{TRACK}", WHY, ivy, "track.view"),
    ]
    for path, params, headers, action in calls:
        resp = client.get(path, params=params, headers=headers)
        assert resp.status_code == 200, resp.text
        assert trail.entries()[-1].action == action
