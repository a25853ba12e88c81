"""The alert queue over HTTP: who may review, the four-eyes rule with real sign-ins, the
reason a dismissal needs, the images a reviewer sees and the audit entries every step
leaves. Real SQLite stores (alerts, watchlist, audit, users) and real JPEG faces cut
from the sample photos."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.cameras import CameraConfig
from civicsight.events import FaceObservation
from civicsight.faces import face_crop_jpeg
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.users import UserStore
from civicsight.watchlist import DAY_S, WatchlistEntry, WatchlistStore
from tests.faces_support import face_photo

from .conftest import SECRET

LABEL = "Jane Example"
NEW_PASSWORD = "a long new password 42"


@dataclass
class Hub:
    client: TestClient
    tokens: TokenStore
    users: UserStore
    alerts: AlertStore
    watchlist: WatchlistStore
    trail: AuditLog
    cameras_dir: Path
    sessions: dict[str, TestClient] = field(default_factory=dict)

    def bearer(self, role: Role, label: str | None = None) -> dict[str, str]:
        token = self.tokens.issue(role, label or f"{role.value} desk")
        return {"Authorization": f"Bearer {token}"}

    def sign_in(self, name: str, role: Role) -> dict[str, str]:
        """A real password sign-in (one-time password changed first); the session's
        CSRF header, with the session cookie kept in a client of its own."""
        one_time = self.users.add(name, role, time.time())
        client = TestClient(self.client.app)
        resp = client.post("/api/auth/login", json={"username": name, "password": one_time})
        csrf = {"X-CSRF-Token": resp.json()["csrf_token"]}
        resp = client.post(
            "/api/auth/password", json={"old": one_time, "new": NEW_PASSWORD}, headers=csrf
        )
        assert resp.status_code == 200, resp.text
        self.sessions[name] = client
        return {"X-CSRF-Token": resp.json()["csrf_token"]}


def observation(track: int, at: float, score: float = 0.4) -> FaceObservation:
    return FaceObservation(
        camera_id="cam-a",
        track_id=track,
        captured_at=at,
        watchlist_id="missing",
        entry_id="e-0042",
        score=score,
        threshold=0.5,
    )


def face_jpeg(name: str) -> bytes:
    """A face-sized JPEG from a sample photo (its middle), as the faces service keeps."""
    image = face_photo(name)
    h, w = image.shape[:2]
    return face_crop_jpeg(image, (w * 0.3, h * 0.2, w * 0.7, h * 0.7))


def write_camera(folder: Path, camera: str, faces: bool | None, extra: str = "") -> None:
    lines = [f"id: {camera}", f"name: Camera {camera}", "source: media:x"]
    if faces is not None:
        lines += ["analytics:", f"  faces: {str(faces).lower()}"]
    if faces:
        lines += [
            "  faces_purpose: find missing persons reported to the police",
            "  faces_legal_basis: court order 2026/118",
        ]
    (folder / f"{camera}.yaml").write_text("\n".join(lines) + "\n" + extra)


@pytest.fixture
def hub(
    tmp_path: Path,
    store: SqliteTrackStore,
    tokens: TokenStore,
    trail: AuditLog,
    cameras: list[CameraConfig],
) -> Iterator[Hub]:
    users = UserStore(tmp_path / "auth.db")
    alerts = AlertStore(tmp_path / "alerts.db", trail)
    watchlist = WatchlistStore(tmp_path / "watchlist.db", trail)
    for part in (users, alerts, watchlist):
        part.open()
    now = time.time()
    entry = WatchlistEntry(
        watchlist_id="missing",
        entry_id="e-0042",
        label=LABEL,
        case_id="2026/118",
        reason="missing person report",
        added_by="ivy",
        added_at=now - 60,
        expires_at=now + 30 * DAY_S,
    )
    reference = face_jpeg("train_obama_obama.jpg")
    watchlist.add(
        entry, np.full((1, 128), 0.1, np.float32), role="investigator", reference=reference
    )
    alerts.record_match(observation(1, now - 30), face_jpeg("test_obama1.jpg"))
    alerts.record_match(observation(2, now - 10), face_jpeg("obama3.jpg"))
    folder = tmp_path / "cameras"
    folder.mkdir()
    write_camera(folder, "cam-a", True)
    write_camera(folder, "cam-b", False)
    write_camera(folder, "cam-c", None)
    app = create_app(
        ApiState(
            store=store,
            tokens=tokens,
            audit=trail,
            cameras=CameraRegistry(cameras, folder),
            users=users,
            alerts=alerts,
            watchlist=watchlist,
        )
    )
    with TestClient(app) as client:
        yield Hub(client, tokens, users, alerts, watchlist, trail, folder)
    for part in (users, alerts, watchlist):
        part.close()


def alert_ids(hub: Hub) -> list[str]:
    return [a.alert_id for a in sorted(hub.alerts.alerts(), key=lambda a: -a.first_at)]


ROUTES = [
    ("GET", "/api/alerts"),
    ("GET", "/api/alerts/{id}/crop.jpg"),
    ("GET", "/api/alerts/{id}/reference.jpg"),
    ("POST", "/api/alerts/{id}/confirm"),
    ("POST", "/api/alerts/{id}/dismiss"),
]
REVIEWERS = {Role.OPERATOR, Role.INVESTIGATOR}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_only_operators_and_investigators_review_alerts(
    hub: Hub, role: Role, method: str, path: str
) -> None:
    """Guards the role table: viewers, traffic analysts, auditors and administrators never
    see a watchlist hit, its faces, or act on it (403 before anything else is checked)."""
    url = path.replace("{id}", alert_ids(hub)[0])
    body = {"reason": "not the person on the list"} if url.endswith("dismiss") else None
    resp = hub.client.request(method, url, json=body, headers=hub.bearer(role))
    if role in REVIEWERS:
        assert resp.status_code == 200, resp.text
    else:
        assert resp.status_code == 403 and role.value in resp.json()["detail"]
    assert hub.client.request(method, url, json=body).status_code == 401


def test_the_queue_is_newest_first_with_what_a_reviewer_needs(hub: Hub) -> None:
    """Guards the queue's content: camera name, score against threshold, times, state and
    counts; the person's name only for roles that manage the watchlist."""
    resp = hub.client.get("/api/alerts", headers=hub.bearer(Role.OPERATOR))
    body = resp.json()
    assert [a["track_id"] for a in body["items"]] == [2, 1]
    first = body["items"][0]
    assert first["camera_name"] == "Main St / 5th Ave"
    assert (first["score"], first["threshold"], first["state"]) == (0.4, 0.5, "new")
    assert first["case_id"] == "2026/118" and first["label"] is None
    assert first["has_face"] and first["has_reference"]
    assert first["confirmations_needed"] == 2 and not first["confirmed_by_you"]
    assert body["counts"] == {"new": 2}
    as_investigator = hub.client.get("/api/alerts", headers=hub.bearer(Role.INVESTIGATOR))
    assert as_investigator.json()["items"][0]["label"] == LABEL
    assert SECRET not in resp.text


def test_two_different_people_confirm_and_the_same_person_twice_is_refused(hub: Hub) -> None:
    """Guards the four-eyes rule through real sign-ins: alice's confirmation leaves the
    alert new (1 of 2), alice again is 409 with the rule in words, a second token of
    alice's is still alice, and bob's confirmation makes it confirmed. Each step is
    audited with the real user and role."""
    alert = alert_ids(hub)[0]
    alice = hub.sign_in("alice", Role.OPERATOR)
    bob = hub.sign_in("bob", Role.INVESTIGATOR)
    url = f"/api/alerts/{alert}/confirm"

    first = hub.sessions["alice"].post(url, headers=alice)
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "new" and first.json()["confirmed_by_you"]
    assert [c["user"] for c in first.json()["confirmations"]] == ["alice"]

    again = hub.sessions["alice"].post(url, headers=alice)
    assert again.status_code == 409
    assert "alice already confirmed" in again.json()["detail"]
    assert "a different person must confirm" in again.json()["detail"]
    by_token = hub.client.post(url, headers=hub.bearer(Role.INVESTIGATOR, "alice"))
    assert by_token.status_code == 409

    listed = hub.sessions["bob"].get("/api/alerts").json()["items"][0]
    assert not listed["confirmed_by_you"] and len(listed["confirmations"]) == 1
    done = hub.sessions["bob"].post(url, headers=bob)
    assert done.status_code == 200
    assert done.json()["state"] == "confirmed"
    assert [c["user"] for c in done.json()["confirmations"]] == ["alice", "bob"]
    late = hub.client.post(url, headers=hub.bearer(Role.OPERATOR, "carol"))
    assert late.status_code == 409 and "already confirmed" in late.json()["detail"]

    steps = [(e.actor, e.role, e.details["state"])
             for e in hub.trail.entries(action="alert.confirm")]  # fmt: skip
    assert steps == [("alice", "operator", "new"), ("bob", "investigator", "confirmed")]


def test_confirming_without_the_csrf_header_is_refused(hub: Hub) -> None:
    """Guards the session path: a confirmation is a state change, so the cookie alone
    (which any site's form would send) is not enough."""
    hub.sign_in("alice", Role.OPERATOR)
    resp = hub.sessions["alice"].post(f"/api/alerts/{alert_ids(hub)[0]}/confirm")
    assert resp.status_code == 403 and "X-CSRF-Token" in resp.json()["detail"]
    assert hub.trail.entries(action="alert.confirm") == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (None, 400),
        ({}, 400),
        ({"reason": "no"}, 400),
        ({"reason": "    x     "}, 400),
        ({"reason": "x" * 501}, 400),
        ({"reason": "not him\x1b[2J"}, 400),
        ({"reason": "a lookalike", "race": "x"}, 400),
        ({"reason": "a lookalike, different ears"}, 200),
    ],
    ids=["no-body", "no-reason", "too-short", "blank", "too-long", "control-chars",
         "extra-field", "good"],
)  # fmt: skip
def test_a_dismissal_needs_a_reason(hub: Hub, body: dict[str, str] | None, status: int) -> None:
    """Guards accountability of dismissals: no reason, no dismissal (and no audit entry
    claiming one); the reason is kept on the alert and in the audit log."""
    alert = alert_ids(hub)[0]
    resp = hub.client.post(
        f"/api/alerts/{alert}/dismiss", json=body, headers=hub.bearer(Role.OPERATOR, "alice")
    )
    assert resp.status_code == status, resp.text
    dismissals = hub.trail.entries(action="alert.dismiss")
    if status == 200:
        assert resp.json()["state"] == "dismissed"
        assert resp.json()["dismiss_reason"] == body["reason"]  # type: ignore[index]
        assert [(e.actor, e.details["reason"]) for e in dismissals] == [
            ("alice", "a lookalike, different ears")
        ]
    else:
        assert "reason" in resp.json()["detail"] or "race" in resp.json()["detail"]
        assert dismissals == [] and hub.alerts.get(alert).state == "new"  # type: ignore[union-attr]


def test_a_dismissed_alert_cannot_be_confirmed(hub: Hub) -> None:
    alert = alert_ids(hub)[0]
    headers = hub.bearer(Role.OPERATOR, "alice")
    hub.client.post(f"/api/alerts/{alert}/dismiss", json={"reason": "not him"}, headers=headers)
    resp = hub.client.post(f"/api/alerts/{alert}/confirm", headers=hub.bearer(Role.OPERATOR, "bob"))
    assert resp.status_code == 409 and "already dismissed" in resp.json()["detail"]


def test_each_image_view_is_audited_without_the_name(hub: Hub) -> None:
    """Guards accountability for looking at faces: the matched face and the enrolled photo
    are JPEGs served only with an audit entry naming who, the alert and which image;
    the person's name is never written to the audit log."""
    alert = alert_ids(hub)[0]
    headers = hub.bearer(Role.OPERATOR, "alice")
    crop = hub.client.get(f"/api/alerts/{alert}/crop.jpg", headers=headers)
    reference = hub.client.get(f"/api/alerts/{alert}/reference.jpg", headers=headers)
    for resp in (crop, reference):
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "image/jpeg"
        assert resp.headers["cache-control"] == "no-store"
        assert resp.content.startswith(b"\xff\xd8\xff")
    assert crop.content == hub.alerts.face(alert)
    assert reference.content == hub.watchlist.reference("missing", "e-0042")
    views = [(e.actor, e.role, e.details) for e in hub.trail.entries(action="alert.view")]
    assert views == [
        ("alice", "operator", {"alert_id": alert, "image": "crop"}),
        ("alice", "operator", {"alert_id": alert, "image": "reference"}),
    ]
    hub.client.get("/api/alerts", headers=hub.bearer(Role.INVESTIGATOR))
    assert LABEL.encode() not in hub.trail.path.read_bytes()


def test_the_enrolled_photo_is_gone_once_the_entry_left_the_watchlist(hub: Hub) -> None:
    """Guards retention: after removal the alert still shows its match, but the enrolled
    photo is deleted, and the answer says why rather than failing."""
    alert = alert_ids(hub)[0]
    hub.watchlist.remove("missing", "e-0042", actor="ivy", role="investigator")
    headers = hub.bearer(Role.OPERATOR)
    resp = hub.client.get(f"/api/alerts/{alert}/reference.jpg", headers=headers)
    assert resp.status_code == 404 and "left the watchlist" in resp.json()["detail"]
    listed = hub.client.get("/api/alerts", headers=headers).json()["items"][0]
    assert listed["has_reference"] is False and listed["case_id"] is None
    assert hub.client.get(f"/api/alerts/{alert}/crop.jpg", headers=headers).status_code == 200
    assert hub.trail.entries(action="alert.view")[-1].details["image"] == "crop"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/alerts/a-0000000000000000/confirm", 404),
        ("/api/alerts/a-0000000000000000/crop.jpg", 404),
        ("/api/alerts/not-an-alert/confirm", 400),
        ("/api/alerts?state=maybe", 400),
        ("/api/alerts?limit=0", 400),
    ],
)
def test_bad_alert_requests_say_what_is_wrong(hub: Hub, path: str, status: int) -> None:
    method = "POST" if path.endswith("confirm") else "GET"
    resp = hub.client.request(method, path, headers=hub.bearer(Role.OPERATOR))
    assert resp.status_code == status and resp.json()["detail"]


def test_state_filter(hub: Hub) -> None:
    alert = alert_ids(hub)[0]
    headers = hub.bearer(Role.OPERATOR, "alice")
    hub.client.post(f"/api/alerts/{alert}/dismiss", json={"reason": "not him"}, headers=headers)
    for state, want in (("dismissed", [alert]), ("new", alert_ids(hub)[1:]), ("confirmed", [])):
        resp = hub.client.get(f"/api/alerts?state={state}", headers=headers).json()
        assert [a["alert_id"] for a in resp["items"]] == want
        assert resp["counts"] == {"new": 1, "dismissed": 1}


def test_without_an_alert_store_the_routes_say_so(
    store: SqliteTrackStore, tokens: TokenStore, trail: AuditLog, cameras: list[CameraConfig]
) -> None:
    """Guards an API built without the faces stores (tests, a hub without faces): a clear
    503, never a crash."""
    app = create_app(
        ApiState(store=store, tokens=tokens, audit=trail, cameras=CameraRegistry(cameras))
    )
    headers = {"Authorization": f"Bearer {tokens.issue(Role.OPERATOR, 'op')}"}
    with TestClient(app) as client:
        resp = client.get("/api/alerts", headers=headers)
        assert resp.status_code == 503 and resp.json()["detail"] == "no alert store on this hub"
        resp = client.post("/api/alerts/a-0000000000000000/confirm", headers=headers)
        assert resp.status_code == 503


@pytest.mark.parametrize("role", list(Role))
def test_faces_cameras_with_purpose_and_legal_basis(hub: Hub, role: Role) -> None:
    """Guards the transparency of face matching inside the app: reviewers and watchlist
    managers see which cameras match faces and under which legal basis (faces off by
    default: a camera without the setting is off); other roles get 403."""
    resp = hub.client.get("/api/faces/cameras", headers=hub.bearer(role))
    if role not in REVIEWERS:
        assert resp.status_code == 403
        return
    assert resp.json() == {
        "cameras": [
            {
                "camera_id": "cam-a",
                "name": "Camera cam-a",
                "purpose": "find missing persons reported to the police",
                "legal_basis": "court order 2026/118",
            }
        ],
        "faces_off": 2,
        "problem": None,
    }


def test_a_broken_camera_folder_shows_faces_off_everywhere(hub: Hub) -> None:
    """Guards the page against claiming faces run where the faces service (which fails
    closed) matches none: a camera file that does not load turns the list empty, with
    the reason, and without echoing the file's content."""
    write_camera(hub.cameras_dir, "cam-d", True, extra=f"race: {SECRET}\n")
    body = hub.client.get("/api/faces/cameras", headers=hub.bearer(Role.OPERATOR)).json()
    assert body["cameras"] == [] and "do not load" in body["problem"]
    assert SECRET not in str(body)
