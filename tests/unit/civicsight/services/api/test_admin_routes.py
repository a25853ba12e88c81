"""The administrator's API: users, tokens, camera analytics, retention. Who may call it,
what each change does (one-time secrets shown once, sessions ended, files written), that
each is audited without a secret, and what is refused. Real SQLite stores, camera files
and audit log, FastAPI's TestClient."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.cameras import CameraConfig, load_cameras
from civicsight.retention import RetentionPolicy
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.users import UserStore

GATE = """# North gate
id: gate
name: North gate
source: rtsp://admin:s3cr3t@10.0.0.5:554/stream1
analytics: {detect: true, plates: true}
rules:
  lines:
  - {id: kerb, name: Kerb, points: [[0.1, 0.6], [0.9, 0.6]]}
"""
FACES = {
    "detect": True,
    "faces": True,
    "faces_purpose": "find missing persons at the station",
    "faces_legal_basis": "court order 2026/77",
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    cams = tmp_path / "cameras"
    cams.mkdir()
    (cams / "gate.yaml").write_text(GATE)
    return cams


@pytest.fixture
def users(tmp_path: Path) -> Iterator[UserStore]:
    u = UserStore(tmp_path / "auth.db")
    u.open()
    yield u
    u.close()


@pytest.fixture
def camera_list(folder: Path) -> list[CameraConfig]:
    return load_cameras(folder)


@pytest.fixture
def registry(camera_list: list[CameraConfig], folder: Path) -> CameraRegistry:
    return CameraRegistry(camera_list, folder)


@pytest.fixture
def client(
    store: SqliteTrackStore,
    tokens: TokenStore,
    users: UserStore,
    registry: CameraRegistry,
    trail: AuditLog,
) -> Iterator[TestClient]:
    policy = RetentionPolicy.model_validate({"plates_non_hit": "1d"})
    state = ApiState(store=store, tokens=tokens, audit=trail, cameras=registry, users=users,
                     retention=policy)  # fmt: skip
    app = create_app(state)
    with TestClient(app) as c:
        yield c


def as_role(tokens: TokenStore, role: Role, label: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(role, label or f'{role.value} desk')}"}


@pytest.fixture
def admin(tokens: TokenStore) -> dict[str, str]:
    return as_role(tokens, Role.ADMIN, "root")


def signed_in(client: TestClient, cookies: dict[str, str]) -> int:
    """The status of /api/me with these session cookies (the client's own are kept)."""
    kept = dict(client.cookies)
    client.cookies.clear()
    client.cookies.update(cookies)
    try:
        return client.get("/api/me").status_code
    finally:
        client.cookies.clear()
        client.cookies.update(kept)


def secrets_absent(trail: AuditLog, *secrets: str) -> None:
    text = json.dumps([e.model_dump() for e in trail.entries()])
    for secret in secrets:
        assert secret not in text


CALLS = [
    ("GET", "/api/admin/users", None),
    ("POST", "/api/admin/users", {"username": "ines", "role": "investigator"}),
    ("POST", "/api/admin/users/ines/reset-password", None),
    ("POST", "/api/admin/users/ines/disable", None),
    ("POST", "/api/admin/users/ines/enable", None),
    ("GET", "/api/admin/tokens", None),
    ("POST", "/api/admin/tokens", {"role": "viewer", "label": "wall", "days": 1}),
    ("POST", "/api/admin/tokens/0123456789abcdef/revoke", None),
    ("PUT", "/api/cameras/gate/analytics", FACES),
    ("GET", "/api/admin/retention", None),
]


@pytest.mark.parametrize(("method", "path", "body"), CALLS, ids=[f"{m} {p}" for m, p, _ in CALLS])
@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_only_the_admin_manages(
    client: TestClient,
    tokens: TokenStore,
    trail: AuditLog,
    folder: Path,
    role: Role,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    """Guards administration reaching other roles (an investigator issuing themselves an
    auditor token, an auditor switching faces on): 403 before anything is read or done,
    and 401 without credentials."""
    resp = client.request(method, path, json=body, headers=as_role(tokens, role))
    assert resp.status_code == 403, resp.text
    assert client.request(method, path, json=body).status_code == 401
    assert trail.entries() == [] and (folder / "gate.yaml").read_text() == GATE


def test_add_a_user_who_then_signs_in_with_the_one_time_password(
    client: TestClient, admin: dict[str, str], trail: AuditLog
) -> None:
    """Guards the new user's first password: shown once in the answer, never in the log,
    and it must be changed before anything else."""
    resp = client.post(
        "/api/admin/users", json={"username": "ines", "role": "investigator"}, headers=admin
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    secret = body["one_time_password"]
    assert body["user"]["state"] == "must_change_password" and len(secret) >= 20
    login = client.post("/api/auth/login", json={"username": "ines", "password": secret})
    assert login.status_code == 200 and login.json()["must_change_password"] is True
    client.cookies.clear()
    listed = client.get("/api/admin/users", headers=admin).json()
    assert [(u["username"], u["role"], u["state"]) for u in listed] == [
        ("ines", "investigator", "must_change_password")
    ]
    assert secret not in json.dumps(listed)
    assert [(e.actor, e.action, e.details) for e in trail.entries(action="user.add")] == [
        ("root", "user.add", {"user": "ines", "user_role": "investigator"})
    ]
    secrets_absent(trail, secret)
    again = client.post(
        "/api/admin/users", json={"username": "ines", "role": "viewer"}, headers=admin
    )
    assert again.status_code == 409 and "exists" in again.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"username": "Ines", "role": "investigator"},
        {"username": "x", "role": "investigator"},
        {"username": "ines", "role": "superuser"},
        {"username": "ines", "role": "investigator", "password": "chosen-by-admin"},
        {"username": "cs_aaaaaaaaaaaaaaaaaaaaaaaa", "role": "viewer"},
    ],
)
def test_bad_new_users_are_400(
    client: TestClient, admin: dict[str, str], users: UserStore, body: dict[str, str]
) -> None:
    """Guards users the store or the log cannot take (a name that looks like an API token
    would be refused by the audit log after the user was made: checked first)."""
    resp = client.post("/api/admin/users", json=body, headers=admin)
    assert resp.status_code == 400, resp.text
    assert users.users() == []


def test_reset_ends_sessions_and_needs_a_change(
    client: TestClient, admin: dict[str, str], users: UserStore, trail: AuditLog
) -> None:
    """Guards a reset that leaves the user's open session (maybe a thief's) alive."""
    first = users.add("ines", Role.INVESTIGATOR, 1.0)
    client.post("/api/auth/login", json={"username": "ines", "password": first})
    session = dict(client.cookies)
    client.cookies.clear()
    resp = client.post("/api/admin/users/ines/reset-password", headers=admin)
    assert resp.status_code == 200, resp.text
    secret = resp.json()["one_time_password"]
    assert secret != first and resp.json()["user"]["state"] == "must_change_password"
    assert signed_in(client, session) == 401
    assert client.post("/api/admin/users/nobody/reset-password", headers=admin).status_code == 404
    assert [e.details for e in trail.entries(action="user.password_reset")] == [{"user": "ines"}]
    secrets_absent(trail, secret, first)


def test_disable_and_enable(
    client: TestClient, tokens: TokenStore, users: UserStore, trail: AuditLog
) -> None:
    """Guards a disabled user keeping a session, an admin locking themselves out, and
    a change that is not recorded."""
    for name, role in (("boss", Role.ADMIN), ("ines", Role.INVESTIGATOR)):
        secret = users.add(name, role, 1.0)
        users.change_password(name, secret, f"{name} has a long passphrase", "t", 2.0)
    ines = {"username": "ines", "password": "ines has a long passphrase"}
    client.post("/api/auth/login", json=ines)
    ines_session = dict(client.cookies)
    client.cookies.clear()
    login = client.post(
        "/api/auth/login", json={"username": "boss", "password": "boss has a long passphrase"}
    )
    boss = {"X-CSRF-Token": login.json()["csrf_token"]}
    resp = client.post("/api/admin/users/ines/disable", headers=boss)
    assert resp.status_code == 200 and resp.json()["state"] == "disabled"
    assert signed_in(client, ines_session) == 401
    itself = client.post("/api/admin/users/boss/disable", headers=boss)
    assert itself.status_code == 409 and "yourself" in itself.json()["detail"]
    assert client.post("/api/admin/users/ines/enable", headers=boss).json()["state"] == "active"
    assert client.post("/api/admin/users/ines/enable", headers=boss).status_code == 200  # no-op
    assert client.post("/api/admin/users/nobody/disable", headers=boss).status_code == 404
    changes = trail.entries(action={"user.disable", "user.enable"})
    assert [(e.actor, e.action, e.details) for e in changes] == [
        ("boss", "user.disable", {"user": "ines"}),
        ("boss", "user.enable", {"user": "ines"}),
    ]


def test_issue_and_revoke_a_token(
    client: TestClient, admin: dict[str, str], tokens: TokenStore, trail: AuditLog
) -> None:
    """Guards the token's secret: in the issue answer only (never the list, the log), a
    lifetime as asked, and a revoked token that stops working at once."""
    resp = client.post(
        "/api/admin/tokens", json={"role": "viewer", "label": "wall 3", "days": 2}, headers=admin
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    secret, token = body["secret"], body["token"]
    assert secret.startswith("cs_") and token["state"] == "live"
    assert token["expires_at"] - token["created_at"] == pytest.approx(2 * 86400)
    wall = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/cameras", headers=wall).status_code == 200
    listed = client.get("/api/admin/tokens", headers=admin).json()
    assert token["token_id"] in [t["token_id"] for t in listed]
    assert secret not in json.dumps(listed)
    revoked = client.post(f"/api/admin/tokens/{token['token_id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert client.get("/api/cameras", headers=wall).status_code == 401
    again = client.post(f"/api/admin/tokens/{token['token_id']}/revoke", headers=admin)
    assert again.status_code == 409
    unknown = client.post("/api/admin/tokens/0123456789abcdef/revoke", headers=admin)
    assert unknown.status_code == 404
    changes = trail.entries(action={"token.issue", "token.revoke"})
    held = {"token_id": token["token_id"], "token_role": "viewer"}
    assert [(e.action, e.details) for e in changes] == [
        ("token.issue", {**held, "label": "wall 3", "ttl_s": 2 * 86400}),
        ("token.revoke", {**held, "why": "revoked"}),
    ]
    secrets_absent(trail, secret)


@pytest.mark.parametrize(
    "body",
    [
        {"role": "viewer", "label": "", "days": 1},
        {"role": "viewer", "label": "wall", "days": 0},
        {"role": "viewer", "label": "wall", "days": 400},
        {"role": "root", "label": "wall", "days": 1},
        {"role": "viewer", "label": "bell\x07", "days": 1},
        {"role": "viewer", "label": "cs_" + "a" * 20, "days": 1},
    ],
)
def test_bad_tokens_are_400_and_none_is_issued(
    client: TestClient, admin: dict[str, str], tokens: TokenStore, body: dict[str, object]
) -> None:
    """Guards tokens that live for ever, have no holder, or could not be audited."""
    before = len(tokens.issued())
    resp = client.post("/api/admin/tokens", json=body, headers=admin)
    assert resp.status_code == 400, resp.text
    assert len(tokens.issued()) == before


def test_enable_faces_with_purpose_and_legal_basis(
    client: TestClient,
    admin: dict[str, str],
    folder: Path,
    trail: AuditLog,
    registry: CameraRegistry,
) -> None:
    """Guards face matching switched on without a purpose and a legal basis, a camera file
    that loses its rules or source, a change the API's own camera list does not show, and
    a change that is not audited (with the purpose and basis the faces service records)."""
    bare = {"detect": True, "faces": True}
    refused = client.put("/api/cameras/gate/analytics", json=bare, headers=admin)
    assert refused.status_code == 400
    assert "faces_purpose and faces_legal_basis" in refused.json()["detail"]
    assert (folder / "gate.yaml").read_text() == GATE and trail.entries() == []

    resp = client.put("/api/cameras/gate/analytics", json=FACES, headers=admin)
    assert resp.status_code == 200, resp.text
    doc = yaml.safe_load((folder / "gate.yaml").read_text())
    assert doc["analytics"] == {**FACES, "plates": False, "reid": False}
    assert doc["rules"]["lines"][0]["id"] == "kerb" and "s3cr3t" in doc["source"]
    assert (folder / "gate.yaml").read_text().startswith("# North gate\n")
    gate = registry.get("gate")
    assert gate is not None and gate.analytics.faces is True
    listed = client.get("/api/cameras", headers=admin).json()
    assert listed[0]["analytics"]["faces_legal_basis"] == "court order 2026/77"
    same = client.put("/api/cameras/gate/analytics", json=FACES, headers=admin)
    assert same.status_code == 200  # nothing changed: nothing recorded
    off_but_reasons = {**FACES, "faces": False}
    off = client.put("/api/cameras/gate/analytics", json=off_but_reasons, headers=admin)
    assert off.status_code == 200 and off.json()["faces"] is False
    assert off.json()["faces_legal_basis"] is None  # switching on again: state them anew
    assert yaml.safe_load((folder / "gate.yaml").read_text())["analytics"] == {
        "detect": True, "plates": False, "reid": False, "faces": False,
    }  # fmt: skip
    assert [(e.actor, e.action, e.details) for e in trail.entries()] == [
        ("root", "camera.faces_enabled", {"camera_id": "gate", "purpose": FACES["faces_purpose"],
                                          "legal_basis": "court order 2026/77"}),
        ("root", "setting.change", {"camera_id": "gate", "setting": "analytics",
                                    "changed": {"plates": False}}),
        ("root", "camera.faces_disabled", {"camera_id": "gate"}),
    ]  # fmt: skip
    assert client.put("/api/cameras/nope/analytics", json=FACES, headers=admin).status_code == 404


def test_analytics_without_a_cameras_folder_are_503(
    store: SqliteTrackStore, tokens: TokenStore, trail: AuditLog, camera_list: list[CameraConfig]
) -> None:
    """Guards an API without a cameras folder pretending to save."""
    app = create_app(
        ApiState(store=store, tokens=tokens, audit=trail, cameras=CameraRegistry(camera_list))
    )
    with TestClient(app) as c:
        resp = c.put("/api/cameras/gate/analytics", json=FACES, headers=as_role(tokens, Role.ADMIN))
    assert resp.status_code == 503 and trail.entries() == []


def test_retention_in_force(client: TestClient, admin: dict[str, str]) -> None:
    """Guards the admin seeing the defaults where the site changed the policy, and where
    each class is kept (topics, capped at 7 days)."""
    body = client.get("/api/admin/retention", headers=admin).json()
    assert body["site_file"] is True
    rows = {r["data_class"]: r for r in body["rows"]}
    assert rows["plates_non_hit"]["keep"] == "1 day"
    assert {t["topic"]: t["retention_ms"] for t in rows["plates_non_hit"]["topics"]} == {
        "plate_reads": 86_400_000
    }
    tracks = {t["topic"]: t["retention_ms"] for t in rows["tracks"]["topics"]}
    assert tracks["track_updates"] == 7 * 86_400_000  # 30 days, capped on the bus
    assert rows["watchlist"]["keep_s"] is None and rows["audit"]["topics"] == []
