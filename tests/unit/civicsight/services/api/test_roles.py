"""Who reaches what: every role against every data route, password sessions with CSRF,
the one-time admin password, login throttling, and the purpose a search needs. Real
SQLite stores, FastAPI's TestClient."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.cameras import CameraConfig
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.traffic import CameraBin, CountBin, TrafficRow
from civicsight.users import MAX_FAILURES, UserStore
from tests.support import RowsSource

from .conftest import T0, track_specs

TRACK = next(s.track_id for s in track_specs() if s.crop)
WHY = "case=C-2026-7&purpose=stolen+van+report+4411"


@pytest.fixture
def users(tmp_path: Path) -> Iterator[UserStore]:
    u = UserStore(tmp_path / "auth.db")
    u.open()
    yield u
    u.close()


def logged(trail: AuditLog) -> list[tuple[str, str, str, dict[str, object]]]:
    return [(e.actor, e.role, e.action, e.details) for e in trail.entries()]


@pytest.fixture
def client(
    store: SqliteTrackStore,
    tokens: TokenStore,
    users: UserStore,
    cameras: list[CameraConfig],
    trail: AuditLog,
) -> Iterator[TestClient]:
    app = create_app(
        ApiState(
            store=store,
            tokens=tokens,
            audit=trail,
            cameras=CameraRegistry(cameras),
            users=users,
            traffic=RowsSource(traffic_rows()),
        )
    )
    with TestClient(app) as c:
        yield c


def traffic_rows() -> list[TrafficRow]:
    """A day of counts at cam-a's line: small at night, bigger by day."""
    rows: list[TrafficRow] = []
    for n in range(96):
        b = T0 + n * 900
        rows.append(CameraBin(camera="cam-a", bin_start=b, up=True))
        for direction, count in (("in", n % 7), ("out", 3 * (n % 11))):
            if count:
                rows.append(CountBin(camera="cam-a", rule="door", direction=direction,
                                     cls="car", bin_start=b, count=count))  # fmt: skip
    return rows


ROUTES = {
    "cameras": "/api/cameras",
    "live": "/api/cameras/cam-a/latest.jpg",
    "tracks": f"/api/tracks?{WHY}",
    "track": f"/api/tracks/{TRACK}?{WHY}",
    "crop": f"/api/tracks/{TRACK}/crop.jpg?{WHY}",
    "traffic": f"/api/traffic/counts?since={T0 - 3600}&until={T0 + 86_400}",
    "audit": "/api/audit",
}
ALLOWED = {
    Role.VIEWER: {"cameras", "live"},
    Role.OPERATOR: {"cameras", "live"},
    Role.INVESTIGATOR: {"cameras", "live", "tracks", "track", "crop"},
    Role.TRAFFIC_ANALYST: {"traffic"},
    Role.AUDITOR: {"audit"},
    Role.ADMIN: {"cameras", "live", "traffic"},
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("route", list(ROUTES))
def test_role_reaches_only_its_routes(
    client: TestClient, tokens: TokenStore, role: Role, route: str
) -> None:
    """Guards the role table in code: a traffic analyst or auditor never gets tracks,
    crops or frames; a viewer never searches."""
    token = tokens.issue(role, f"{role.value} test")
    resp = client.get(ROUTES[route], headers={"Authorization": f"Bearer {token}"})
    if route in ALLOWED[role]:
        assert resp.status_code in (200, 204), resp.text
    else:
        assert resp.status_code == 403, resp.text
        assert role.value in resp.json()["detail"]


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("", "case id"),
        ("case=C-1", "purpose"),
        ("purpose=looking+around", "case id"),
        ("case=C-1&purpose=+++", "purpose"),
        ("case=C-1&purpose=why", "purpose"),  # too short to say anything
        ("case=../../x&purpose=a+real+reason", "case"),
    ],
)
@pytest.mark.parametrize("path", ["/api/tracks", f"/api/tracks/{TRACK}"])
def test_investigator_search_without_case_or_purpose_is_400(
    client: TestClient, tokens: TokenStore, trail: AuditLog, query: str, needle: str, path: str
) -> None:
    token = tokens.issue(Role.INVESTIGATOR, "ines")
    resp = client.get(f"{path}?{query}", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 400 and needle in resp.json()["detail"]
    assert logged(trail) == []


def test_searches_land_in_the_audit_log_with_case_purpose_and_results(
    client: TestClient, tokens: TokenStore, trail: AuditLog
) -> None:
    token = tokens.issue(Role.INVESTIGATOR, "ines")
    headers = {"Authorization": f"Bearer {token}"}
    found = client.get(f"/api/tracks?limit=3&{WHY}", headers=headers).json()
    client.get(f"/api/tracks/{TRACK}/crop.jpg?{WHY}", headers=headers)
    (actor, role, action, details), crop = logged(trail)
    assert (actor, role, action) == ("ines", "investigator", "search.tracks")
    assert details["case_id"] == "C-2026-7" and details["purpose"] == "stolen van report 4411"
    assert details["results"] == [t["track_id"] for t in found["items"]]
    assert crop[2] == "thumbnail.view" and crop[3]["track"] == TRACK


def login(client: TestClient, name: str, password: str) -> dict[str, object]:
    resp = client.post("/api/auth/login", json={"username": name, "password": password})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_first_admin_must_change_the_one_time_password_first(
    client: TestClient, users: UserStore
) -> None:
    secret = users.ensure_first_admin(time.time())
    assert secret
    body = login(client, "admin", secret)
    assert body["must_change_password"] is True
    assert client.get("/api/cameras").status_code == 403  # the cookie works, but not yet
    csrf = {"X-CSRF-Token": str(body["csrf_token"])}
    change = {"old": secret, "new": "a much longer passphrase"}
    resp = client.post("/api/auth/password", json=change, headers=csrf)
    assert resp.status_code == 200 and resp.json()["must_change_password"] is False
    assert client.get("/api/cameras").status_code == 200
    assert client.get("/api/me").json()["label"] == "admin"


def test_cookie_session_needs_the_csrf_token_to_change_anything(
    client: TestClient, users: UserStore
) -> None:
    """Guards against cross-site requests riding on the session cookie."""
    secret = users.add("vera", Role.VIEWER, time.time())
    body = login(client, "vera", secret)
    change = {"old": secret, "new": "another long passphrase"}
    assert client.post("/api/auth/password", json=change).status_code == 403
    bad = {"X-CSRF-Token": "not-the-token"}
    assert client.post("/api/auth/password", json=change, headers=bad).status_code == 403
    good = {"X-CSRF-Token": str(body["csrf_token"])}
    assert client.post("/api/auth/password", json=change, headers=good).status_code == 200


def test_cookie_is_http_only_and_same_site_strict(client: TestClient, users: UserStore) -> None:
    secret = users.add("ivo", Role.AUDITOR, time.time())
    resp = client.post("/api/auth/login", json={"username": "ivo", "password": secret})
    cookie = resp.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and secret not in resp.text


def test_logins_are_throttled_and_logged(
    client: TestClient, users: UserStore, trail: AuditLog
) -> None:
    secret = users.add("ana", Role.TRAFFIC_ANALYST, time.time())
    for _ in range(MAX_FAILURES):
        resp = client.post("/api/auth/login", json={"username": "ana", "password": "nope"})
        assert resp.status_code == 401 and "wrong user name or password" in resp.text
    resp = client.post("/api/auth/login", json={"username": "ana", "password": secret})
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert [e[2] for e in logged(trail)] == ["login.failed"] * MAX_FAILURES


def test_logout_ends_the_session(client: TestClient, users: UserStore) -> None:
    secret = users.add("olga", Role.VIEWER, time.time())
    body = login(client, "olga", secret)
    assert client.get("/api/me").status_code == 200
    resp = client.post("/api/auth/logout", headers={"X-CSRF-Token": str(body["csrf_token"])})
    assert resp.status_code == 204
    assert client.get("/api/me").status_code == 401


def test_traffic_analyst_gets_numbers_only_with_small_counts_suppressed(
    client: TestClient, tokens: TokenStore
) -> None:
    """Guards the analyst view: no track id, plate or crop anywhere in the answer, and no
    count under the suppression limit; the retired /api/aggregates is gone."""
    token = tokens.issue(Role.TRAFFIC_ANALYST, "ana")
    headers = {"Authorization": f"Bearer {token}"}
    resp = client.get(ROUTES["traffic"], headers=headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "t-0" not in resp.text and "track_id" not in resp.text and "plate" not in resp.text
    counts = [r["count"] for r in body["rows"]]
    assert None in counts and any(c and c >= 5 for c in counts)
    assert all(c is None or c == 0 or c >= 5 for c in counts)
    assert client.get("/api/aggregates?since=0", headers=headers).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/tracks/..%2F..%2Fetc%2Fpasswd/crop.jpg",
        "/api/tracks/../../etc/passwd/crop.jpg",
        "/api/tracks/%2e%2e/crop.jpg",
        "/api/cameras/..%2Fsecrets/latest.jpg",
        "/static/../../civicsight/auth.py",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
    ],
)
def test_dot_dot_in_a_media_id_is_404(client: TestClient, tokens: TokenStore, path: str) -> None:
    """Guards media served by opaque id only: a client path never reaches the disk."""
    token = tokens.issue(Role.INVESTIGATOR, "ines")
    sep = "&" if "?" in path else "?"
    resp = client.get(f"{path}{sep}{WHY}", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 404, resp.text
    assert "import" not in resp.text and "[project]" not in resp.text


def test_auditor_reads_the_log_and_sees_an_edit(
    client: TestClient, tokens: TokenStore, trail: AuditLog, tmp_path: Path
) -> None:
    """Guards the auditor's view: every search is there with its case and purpose, the
    auditor's own reading is logged too, and an edited entry shows as not intact."""
    import sqlite3

    ines = tokens.issue(Role.INVESTIGATOR, "ines")
    client.get(f"/api/tracks?{WHY}", headers={"Authorization": f"Bearer {ines}"})
    auditor = {"Authorization": f"Bearer {tokens.issue(Role.AUDITOR, 'aud')}"}
    body = client.get("/api/audit", headers=auditor).json()
    assert body["intact"] is True
    assert [(e["actor"], e["action"]) for e in body["entries"]] == [("ines", "search.tracks")]
    assert body["entries"][0]["details"]["case_id"] == "C-2026-7"
    db = sqlite3.connect(tmp_path / "audit.db")
    with db:
        db.execute("UPDATE entries SET actor = 'someone-else' WHERE seq = 1")
    db.close()
    body = client.get("/api/audit", headers=auditor).json()
    assert body["intact"] is False and "edited" in body["problem"]
    assert client.get("/api/audit?action=nope", headers=auditor).status_code == 400


PUBLIC = {"/api/health", "/api/auth/login", "/", "/static", "/api/transparency"}


def test_every_route_but_health_and_login_needs_credentials(client: TestClient) -> None:
    """Guards a new route that forgot authentication: every route of the app's schema (read
    from the app itself, so none can be missed) answers 401 without a token or session.
    The public transparency data (aggregates only) is the one deliberate exception."""
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    checked = 0
    for path, methods in paths.items():
        if path in PUBLIC:
            continue
        url = path.replace("{track_id}", TRACK).replace("{camera_id}", "cam-a")
        for method in methods:
            resp = client.request(method.upper(), url)
            assert resp.status_code == 401, f"{method} {path}: {resp.status_code}"
            checked += 1
    assert checked >= 12
    assert client.get("/api/openapi.json").status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        f"/api/search/plates?pattern=AB123CD&{WHY}",
        f"/api/tracks?{WHY}",
        f"/api/tracks/{TRACK}/crop.jpg?{WHY}",
    ],
)
def test_traffic_analyst_asking_for_plates_or_tracks_is_403(
    client: TestClient, tokens: TokenStore, path: str
) -> None:
    token = tokens.issue(Role.TRAFFIC_ANALYST, "ana")
    resp = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403 and "traffic_analyst" in resp.json()["detail"]


# ---- hardening: the outside probe's findings 5-9 -----------------------------------------


@pytest.mark.parametrize("case", ["C-1\n", "C-1\r\n", "\nC-1", "C-1\x00", "C 1"])
@pytest.mark.parametrize(
    "path", ["/api/tracks", f"/api/tracks/{TRACK}", "/api/search/plates?pattern=AB123CD"]
)
def test_a_case_id_with_a_newline_is_refused_before_searching(
    client: TestClient, tokens: TokenStore, trail: AuditLog, case: str, path: str
) -> None:
    """Finding 5: ``C-1\\n`` passed the API's check (``re.match`` with ``$``) and was
    written as-is into the audit log. Case ids are checked by full match, by the audit
    log's own rules, before the search runs."""
    token = tokens.issue(Role.INVESTIGATOR, "ines")
    sep = "&" if "?" in path else "?"
    resp = client.get(
        f"{path}{sep}purpose=a+real+reason",
        params={"case": case},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 400 and "case" in resp.json()["detail"], resp.text
    assert logged(trail) == []


def test_logout_with_a_token_revokes_it(
    client: TestClient, tokens: TokenStore, trail: AuditLog
) -> None:
    """Finding 6: logout with a bearer token answered 204 and audited a logout, but the
    token kept working."""
    token = tokens.issue(Role.VIEWER, "wall 2")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=headers).status_code == 200
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    resp = client.get("/api/me", headers=headers)
    assert resp.status_code == 401 and "revoked" in resp.json()["detail"]
    actions = [(e[2], e[3].get("why")) for e in logged(trail)]
    assert actions == [("token.revoke", "logout"), ("logout", None)]


def test_an_expired_token_is_refused(client: TestClient, tokens: TokenStore) -> None:
    """Finding 6: tokens had no expiry."""
    token = tokens.issue(Role.VIEWER, "wall", ttl_s=60, now=time.time() - 61)
    resp = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401 and "expired" in resp.json()["detail"]


def test_wrong_old_passwords_are_throttled_like_logins(
    client: TestClient, users: UserStore
) -> None:
    """Finding 7: wrong old passwords on /api/auth/password were never throttled."""
    secret = users.add("pia", Role.VIEWER, time.time())
    csrf = {"X-CSRF-Token": str(login(client, "pia", secret)["csrf_token"])}
    for _ in range(MAX_FAILURES):
        wrong = {"old": "guess-guess-guess", "new": "a brand new passphrase"}
        assert client.post("/api/auth/password", json=wrong, headers=csrf).status_code == 403
    right = {"old": secret, "new": "a brand new passphrase"}
    resp = client.post("/api/auth/password", json=right, headers=csrf)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0


def test_a_failed_login_logs_a_real_user_by_name_and_anything_else_by_pseudonym(
    client: TestClient, users: UserStore, trail: AuditLog, tmp_path: Path
) -> None:
    """Finding 9: ``login.failed`` stored the typed user name, so a password typed into
    the user field landed in the audit log for a year."""
    users.add("ana", Role.TRAFFIC_ANALYST, time.time())
    typed = "Tr0ub4dor&3-my-password"
    client.post("/api/auth/login", json={"username": "ana", "password": "nope"})
    client.post("/api/auth/login", json={"username": typed, "password": "nope"})
    client.post("/api/auth/login", json={"username": typed, "password": "again"})
    actors = [e[0] for e in logged(trail)]
    assert actors[0] == "ana"
    assert actors[1] == actors[2] and actors[1].startswith("anon-") and typed not in actors[1]
    assert typed.encode() not in (tmp_path / "audit.db").read_bytes()


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("until=1e309", "until"),
        ("until=inf", "until"),
        ("until=nan", "until"),
        ("since=-inf", "since"),
        (f"since={time.time() - 40 * 86_400:.0f}", "too long"),
        (f"since=0&until={time.time():.0f}", "too long"),
        ("since=200&until=100", "after"),
    ],
)
def test_track_windows_are_finite_and_at_most_31_days(
    client: TestClient, tokens: TokenStore, trail: AuditLog, query: str, needle: str
) -> None:
    """Finding 9: /api/tracks accepted until=1e309 (no window limit) and until=inf slipped
    past the window check of the image search as NaN."""
    token = tokens.issue(Role.INVESTIGATOR, "ines")
    resp = client.get(f"/api/tracks?{query}&{WHY}", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 400 and needle in resp.json()["detail"], resp.text
    assert logged(trail) == []


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRAFFIC_ANALYST, Role.AUDITOR, Role.ADMIN])
def test_crop_answers_403_before_asking_for_a_case(
    client: TestClient, tokens: TokenStore, role: Role
) -> None:
    """Finding 9: crop.jpg answered 400 (case and purpose missing) before 403 to roles
    that may not search, telling them what to send."""
    token = tokens.issue(role, "someone")
    resp = client.get(f"/api/tracks/{TRACK}/crop.jpg", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403, resp.text
