"""Property-based: every query and path parameter of every route, with hostile values, as
every role and as nobody, against the real app (real SQLite stores, real audit log).

For every request:
- never a 5xx;
- a role that may not reach a route never gets an answer from it (401 without
  credentials, 403 with a role that lacks the permission; a path that matches no route
  at all gets the router's plain 404);
- a search that answers 200 has a new audit entry with its case (no search unaudited).

A route missing from ``ROUTES`` fails the test, so a new route must be classified here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicsight.alert_store import AlertStore
from civicsight.alerts import alert_id_for
from civicsight.audit import AuditLog
from civicsight.auth import Permission, Role, TokenStore, may
from civicsight.cameras import CameraConfig
from civicsight.events import FaceObservation
from civicsight.models.appearance import AppearanceSettings
from civicsight.models.runtimes.face_encoder import ModelChoice
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.embedder import ReidImageEmbedder
from civicsight.services.api.face_models import LazyFaceEncoder
from civicsight.services.api.state import ApiState, Enrolment
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.traffic_tables import TABLES
from civicsight.users import UserStore
from civicsight.watchlist import WatchlistEntry, WatchlistStore
from tests.support import RecordingPublisher, RowsSource
from tests.traffic_data import demo_day

from .conftest import track_specs, track_update

TRACK = next(s.track_id for s in track_specs() if s.crop)
WATCHLIST, ENTRY = "missing", "e-0001"
ALERT = alert_id_for("cam-a", 1, WATCHLIST, ENTRY)
PUBLIC = "public"
SIGNED_IN = "signed in"
# (method, path) -> what the caller needs: a permission (a tuple: any one of them), any
# valid credentials, or nothing
ROUTES: dict[tuple[str, str], Permission | tuple[Permission, ...] | str] = {
    ("GET", "/api/health"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): SIGNED_IN,
    ("POST", "/api/auth/password"): SIGNED_IN,
    ("GET", "/api/me"): SIGNED_IN,
    **{("GET", f"/api/traffic/{name}"): Permission.AGGREGATES for name in TABLES},
    ("GET", "/api/audit"): Permission.AUDIT,
    ("GET", "/api/audit/cases"): Permission.AUDIT,
    ("GET", "/api/transparency"): PUBLIC,
    ("GET", "/api/admin/users"): Permission.MANAGE,
    ("POST", "/api/admin/users"): Permission.MANAGE,
    ("POST", "/api/admin/users/{username}/reset-password"): Permission.MANAGE,
    ("POST", "/api/admin/users/{username}/disable"): Permission.MANAGE,
    ("POST", "/api/admin/users/{username}/enable"): Permission.MANAGE,
    ("GET", "/api/admin/tokens"): Permission.MANAGE,
    ("POST", "/api/admin/tokens"): Permission.MANAGE,
    ("POST", "/api/admin/tokens/{token_id}/revoke"): Permission.MANAGE,
    ("PUT", "/api/cameras/{camera_id}/analytics"): Permission.MANAGE,
    ("GET", "/api/admin/retention"): Permission.MANAGE,
    ("POST", "/api/tracks/{track_id}/merge"): Permission.CORRECT,
    ("POST", "/api/tracks/{track_id}/split"): Permission.CORRECT,
    ("GET", "/api/cameras"): Permission.LIVE,
    ("GET", "/api/cameras/{camera_id}/latest.jpg"): Permission.LIVE,
    ("GET", "/api/cameras/{camera_id}/rules"): Permission.LIVE,
    ("PUT", "/api/cameras/{camera_id}/rules"): Permission.MANAGE,
    ("GET", "/api/events/rule-hits"): Permission.LIVE,
    ("GET", "/api/tracks"): Permission.SEARCH,
    ("GET", "/api/search/plates"): Permission.SEARCH,
    ("POST", "/api/search/image"): Permission.SEARCH,
    ("GET", "/api/tracks/{track_id}"): Permission.SEARCH,
    ("GET", "/api/tracks/{track_id}/crop.jpg"): Permission.SEARCH,
    (
        "GET",
        "/api/tracks/{track_id}/tracklets/{camera_id}/{tracker_id}/crop.jpg",
    ): Permission.SEARCH,
    ("GET", "/api/tracks/{track_id}/export"): Permission.EXPORT,
    ("GET", "/api/alerts"): Permission.ALERTS,
    ("GET", "/api/alerts/{alert_id}/crop.jpg"): Permission.ALERTS,
    ("GET", "/api/alerts/{alert_id}/reference.jpg"): Permission.ALERTS,
    ("POST", "/api/alerts/{alert_id}/confirm"): Permission.ALERTS,
    ("POST", "/api/alerts/{alert_id}/dismiss"): Permission.ALERTS,
    ("GET", "/api/faces/cameras"): (Permission.ALERTS, Permission.WATCHLIST),
    ("GET", "/api/watchlist"): Permission.WATCHLIST,
    ("POST", "/api/watchlist"): Permission.WATCHLIST,
    ("DELETE", "/api/watchlist/{watchlist_id}/{entry_id}"): Permission.WATCHLIST,
}
SEARCHES = {
    ("GET", "/api/tracks"),
    ("GET", "/api/search/plates"),
    ("POST", "/api/search/image"),
    ("GET", "/api/tracks/{track_id}"),
    ("GET", "/api/tracks/{track_id}/crop.jpg"),
    ("GET", "/api/tracks/{track_id}/tracklets/{camera_id}/{tracker_id}/crop.jpg"),
    ("GET", "/api/tracks/{track_id}/export"),
}
SEARCH_ACTIONS = {"search.tracks", "search.plates", "search.image", "search.biometric"}
SEARCH_ACTIONS |= {"track.view", "thumbnail.view", "export"}

HOSTILE = st.sampled_from(
    [
        "", " ", "0", "-1", "1e309", "-1e309", "inf", "-inf", "nan", "NaN", "1.5", "9" * 40,
        "C-1\n", "C-1\r\n", "C-1", "2026/118", "AB?12*", "*", "?", "AB123CD", "../../etc/passwd",
        "%2e%2e%2f", "' OR 1=1 --", "\x00", "\u202e", "é", "cam-a", "cam-b", "person", "car",
        "horse", "search.tracks", "a valid purpose", TRACK, "t-missing", "-" * 600, "csv",
        "json", "junction", "street", str(time.time() - 86_400), str(time.time() - 3600),
        ALERT, "a-0000000000000000", "new", "confirmed", "dismissed", WATCHLIST, ENTRY,
    ]
)  # fmt: skip
VALUE = st.one_of(
    HOSTILE,
    st.text(max_size=40),
    st.integers(-(10**13), 10**13).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
CALLERS = [None, *Role]


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, model_mirror: Path
) -> Iterator[tuple[TestClient, dict, AuditLog]]:
    """Every part a hub can have (the models load only on the first upload, which these
    requests never carry), so no route answers "not on this hub": test_optional_parts.py
    checks those answers."""
    folder: Path = tmp_path_factory.mktemp("properties")
    store = SqliteTrackStore(folder / "tracks.db")
    tokens = TokenStore(folder / "auth.db")
    users = UserStore(folder / "auth.db")
    trail = AuditLog(folder)
    alerts = AlertStore(folder / "alerts.db", trail)
    watchlist = WatchlistStore(folder / "watchlist.db", trail)
    parts = (store, tokens, users, trail, alerts, watchlist)
    for part in parts:
        part.open()
    for spec in track_specs():
        store.upsert(track_update(spec, None), stored_at=spec.last_seen + 1)
    fill_faces(alerts, watchlist)
    cameras = [CameraConfig(id="cam-a", name="A", source="media:bus.jpg")]
    traffic = RowsSource(demo_day(time.time() // 86_400 * 86_400 - 86_400))
    embedder = ReidImageEmbedder(AppearanceSettings(model_mirror=model_mirror))
    faces = ModelChoice("face-det-yunet-s", "face-embed-dlib-resnet", model_mirror, folder / "m")
    app = create_app(
        ApiState(
            store=store,
            tokens=tokens,
            audit=trail,
            cameras=CameraRegistry(cameras),
            users=users,
            alerts=alerts,
            watchlist=watchlist,
            publisher=RecordingPublisher(),
            embedder=embedder,
            enrolment=Enrolment(LazyFaceEncoder(faces), 0.5, 32),
            traffic=traffic,
        )
    )
    headers = {
        role: {"Authorization": f"Bearer {tokens.issue(role, f'{role.value} desk')}"}
        for role in Role
    }
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, headers, trail
    embedder.close()
    for part in parts:
        part.close()


def fill_faces(alerts: AlertStore, watchlist: WatchlistStore) -> None:
    """One watchlist entry with its photo and one alert on it with its face, so the alert
    and watchlist routes get past "not found"."""
    now = time.time()
    entry = WatchlistEntry(
        watchlist_id=WATCHLIST,
        entry_id=ENTRY,
        label="Property Person",
        case_id="C-2026-7",
        reason="property test entry",
        added_by="pytest",
        added_at=now,
        expires_at=now + 86_400,
    )
    jpeg = b"\xff\xd8\xff\xe0property"
    watchlist.add(entry, np.full((1, 128), 0.1, np.float32), role="local", reference=jpeg)
    observation = FaceObservation(
        camera_id="cam-a",
        track_id=1,
        captured_at=now,
        watchlist_id=WATCHLIST,
        entry_id=ENTRY,
        score=0.5,
        threshold=0.5,
    )
    alerts.record_match(observation, jpeg)


def schema_routes(client: TestClient) -> list[tuple[str, str, list[tuple[str, str]]]]:
    out = []
    for path, methods in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        for method, op in methods.items():
            params = [(p["name"], p["in"]) for p in op.get("parameters", [])]
            out.append((method.upper(), path, params))
    return out


def test_every_route_is_classified(hub: tuple[TestClient, dict, AuditLog]) -> None:
    """Guards a new route that nobody decided the access of."""
    found = {(m, p) for m, p, _ in schema_routes(hub[0])}
    assert found == set(ROUTES), found ^ set(ROUTES)


def allowed(need: Permission | tuple[Permission, ...] | str, role: Role | None) -> bool:
    if need == PUBLIC:
        return True
    if role is None:
        return False
    if isinstance(need, tuple):
        return any(may(role, p) for p in need)
    return need == SIGNED_IN or may(role, need)  # type: ignore[arg-type]


ROUTE_IDS = [f"{m} {p}" for m, p in ROUTES]


@pytest.mark.parametrize("route", ROUTE_IDS)
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_parameters(
    hub: tuple[TestClient, dict, AuditLog], route: str, data: st.DataObject
) -> None:
    client, headers, trail = hub
    method, path = route.split(" ", 1)
    (params,) = [p for m, pa, p in schema_routes(client) if (m, pa) == (method, path)]
    role = data.draw(st.sampled_from(CALLERS), label="caller")
    url = path
    query: dict[str, str] = {}
    for name, where in params:
        if where == "path":
            value = data.draw(st.one_of(VALUE, st.just(TRACK)), label=name)
            url = url.replace("{" + name + "}", quote(value, safe="") or "x")
        elif data.draw(st.booleans(), label=f"send {name}"):
            if name == "case" and data.draw(st.booleans()):
                query[name] = "C-2026-7"  # half the time a valid case, to reach the search
            elif name == "purpose" and data.draw(st.booleans()):
                query[name] = "property test of the API"
            else:
                query[name] = data.draw(VALUE, label=name)
    before = len(trail.entries(limit=100_000))
    resp = client.request(method, url, params=query, headers=headers.get(role, {}))
    need = ROUTES[(method, path)]

    assert resp.status_code < 500, f"{method} {url} {query}: {resp.status_code} {resp.text}"
    if not allowed(need, role):
        # a path that matches no route (an encoded "/" in an id) is the router's plain 404;
        # one whose ".." the client folds into another route's path (DELETE on
        # /api/watchlist/) is the router's plain 405: neither runs a route
        unrouted = (resp.status_code, resp.json()) in (
            (404, {"detail": "Not Found"}),
            (405, {"detail": "Method Not Allowed"}),
        )
        assert resp.status_code in (401, 403) or unrouted, f"{role}: {resp.status_code} {url}"
    if (method, path) in SEARCHES and resp.status_code == 200:
        new = trail.entries(limit=100_000)[before:]
        searches = [e for e in new if e.action in SEARCH_ACTIONS]
        assert searches, f"unaudited search: {method} {url} {query}"
        assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9/._-]{0,63}", e.details["case_id"])
                   for e in searches)  # fmt: skip
