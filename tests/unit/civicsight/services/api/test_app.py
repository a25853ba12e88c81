"""The API against a real SQLite store and token store, through FastAPI's TestClient."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.cameras import CameraConfig
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.live import LiveView
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore

from .conftest import (
    BUS_BOXES,
    SECRET,
    TrackSpec,
    bus_image,
    make_detections,
    make_frame,
    track_specs,
)

SPECS = track_specs()
WITH_CROP = next(s.track_id for s in SPECS if s.crop)
WITHOUT_CROP = next(s.track_id for s in SPECS if not s.crop)

PROTECTED = [
    "/api/me",
    "/api/cameras",
    "/api/cameras/cam-a/latest.jpg",
    "/api/cameras/nope/latest.jpg",
    "/api/tracks",
    "/api/tracks?limit=0&cls=horse",  # auth is checked before validation leaks anything
    f"/api/tracks/{WITH_CROP}",
    "/api/tracks/unknown-track",
    f"/api/tracks/{WITH_CROP}/crop.jpg",
    "/api/openapi.json",
]


@pytest.fixture
def live() -> LiveView:
    return LiveView()


@pytest.fixture
def client(
    store: SqliteTrackStore,
    tokens: TokenStore,
    cameras: list[CameraConfig],
    live: LiveView,
    trail: AuditLog,
) -> Iterator[TestClient]:
    with PurposeClient(
        create_app(
            ApiState(
                store=store, tokens=tokens, audit=trail, cameras=CameraRegistry(cameras), live=live
            )
        )
    ) as c:
        yield c


class PurposeClient(TestClient):
    """Every track search states a case and a purpose (test_roles.py checks their absence)."""

    def request(self, method: str, url: object, **kwargs: Any) -> Any:
        u = str(url)
        if u.startswith("/api/tracks"):
            u += ("&" if "?" in u else "?") + "case=T-1&purpose=unit+test+of+the+API"
        return super().request(method, u, **kwargs)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ids(body: dict[str, object]) -> list[str]:
    return [item["track_id"] for item in body["items"]]  # type: ignore[attr-defined]


def expected(pred: object = None) -> list[str]:
    chosen = [s for s in SPECS if pred is None or pred(s)]  # type: ignore[operator]
    chosen.sort(key=lambda s: (s.last_seen, s.track_id), reverse=True)
    return [s.track_id for s in chosen]


# ---- authentication -------------------------------------------------------------------


def test_health_needs_no_token_and_shows_no_data(client: TestClient) -> None:
    """Guards a health check that needs a token (breaks probes) or leaks data."""
    resp = client.get("/api/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer ",
        "Bearer cs_not-a-real-token",
        "Bearer not-even-prefixed",
        "Basic YWRtaW46YWRtaW4=",  # admin:admin, the classic default credential
        "{token}",  # the right token without the Bearer scheme
        "Bearer {revoked}",
    ],
    ids=["none", "scheme-only", "empty", "unknown", "unprefixed", "basic", "no-scheme", "revoked"],
)
def test_every_data_route_refuses_without_a_valid_token(
    client: TestClient, tokens: TokenStore, token: str, path: str, header: str | None
) -> None:
    """Guards a data route that forgot the auth dependency or accepts a bad or revoked
    token; the 401 must name the Bearer scheme and be JSON."""
    revoked = tokens.issue(Role.TRAFFIC_ANALYST, "revoked")
    who = tokens.verify(revoked)
    assert who is not None and tokens.revoke(who.token_id)
    headers = (
        {} if header is None else {"Authorization": header.format(token=token, revoked=revoked)}
    )
    resp = client.get(path, headers=headers)
    assert resp.status_code == 401, resp.text
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["detail"]


@pytest.mark.parametrize("path", PROTECTED)
def test_no_default_credentials_when_no_token_was_issued(client: TestClient, path: str) -> None:
    """Guards a built-in default token or an "open when unconfigured" mode."""
    for header in ({}, auth("cs_"), auth("admin"), auth("cs_admin")):
        assert client.get(path, headers=header).status_code == 401


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_framework_docs_are_not_public(client: TestClient, path: str) -> None:
    """Guards FastAPI's default public /docs and /openapi.json (they map the whole API)."""
    assert client.get(path).status_code == 404


def test_openapi_schema_for_token_holders(client: TestClient, token: str) -> None:
    """Guards the schema route (for token holders) breaking or listing internals."""
    resp = client.get("/api/openapi.json", headers=auth(token))
    assert resp.status_code == 200
    paths = resp.json()["paths"]
    assert "/api/tracks" in paths and "/api/openapi.json" not in paths


@pytest.mark.parametrize("role", list(Role))
def test_me_names_the_token_holder(client: TestClient, tokens: TokenStore, role: Role) -> None:
    """Guards the sign-in check of the page, which calls /api/me with the token."""
    token = tokens.issue(role, f"desk {role.value}")
    resp = client.get("/api/me", headers=auth(token))
    assert resp.status_code == 200
    body = resp.json()
    assert body["role"] == role.value and body["label"] == f"desk {role.value}"
    assert token not in resp.text


def test_log_lines_never_contain_tokens(
    client: TestClient, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards logging the Authorization header or a rejected token (logs are widely read)."""
    bad = "cs_this-token-is-wrong-but-still-secret"
    with caplog.at_level(logging.DEBUG):
        for path in PROTECTED:
            client.get(path, headers=auth(token))
            client.get(path, headers=auth(bad))
    assert caplog.records, "expected at least the rejected-token log line"
    assert token not in caplog.text and bad not in caplog.text


# ---- the page shell -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/", "text/html"),
        ("/static/js/main.js", "javascript"),
        ("/static/js/pages/investigate.js", "javascript"),
        ("/static/js/pages/track.js", "javascript"),
        ("/static/style.css", "text/css"),
        ("/static/index.html", "text/html"),
        ("/static/favicon.svg", "image/svg+xml"),
    ],
)
def test_page_shell_loads_without_token_and_holds_no_data(
    client: TestClient, cameras: list[CameraConfig], path: str, kind: str
) -> None:
    """Guards a page shell that needs a token (no sign-in form) or embeds data (which
    would then be public)."""
    resp = client.get(path)
    assert resp.status_code == 200
    assert kind in resp.headers["content-type"]
    for cam in cameras:
        assert cam.name not in resp.text and cam.id not in resp.text
    for spec in SPECS:
        assert spec.track_id not in resp.text


def test_page_has_strict_security_headers(client: TestClient) -> None:
    """Guards the page loading outside scripts (CSP) or being framed (clickjacking)."""
    headers = client.get("/").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_page_uses_no_external_resources(client: TestClient) -> None:
    """Guards a CDN link: sites are offline, and third parties must not see operators."""
    for path in ("/", "/static/app.js", "/static/style.css"):
        text = client.get(path).text
        assert "http://" not in text and "https://" not in text and "//cdn" not in text


# ---- cameras --------------------------------------------------------------------------


def test_cameras_never_show_credentials(
    client: TestClient, token: str, cameras: list[CameraConfig]
) -> None:
    """Guards leaking the RTSP password or query token of a camera source."""
    resp = client.get("/api/cameras", headers=auth(token))
    assert resp.status_code == 200
    assert SECRET not in resp.text and "admin:" not in resp.text
    body = resp.json()
    assert [c["id"] for c in body] == [c.id for c in cameras]
    assert body[0]["redacted_source"] == "rtsp://***@10.0.0.5:554/stream1"
    assert "source" not in body[0]


@pytest.mark.parametrize(
    ("index", "field", "value"),
    [
        (0, "simulated", False),
        (1, "simulated", True),
        (0, "fps", 5.0),
        (1, "name", "Harbour bridge (simulated)"),
        (0, "position", {"x_m": 0.0, "y_m": 0.0}),
        (
            0,
            "analytics",
            {
                "detect": True,
                "plates": False,
                "reid": False,
                "faces": False,
                "faces_purpose": None,
                "faces_legal_basis": None,
            },
        ),
    ],
)
def test_camera_fields(
    client: TestClient, token: str, index: int, field: str, value: object
) -> None:
    """Guards the fields the page and the map need (simulated badge, name, fps)."""
    assert client.get("/api/cameras", headers=auth(token)).json()[index][field] == value


# ---- latest.jpg -----------------------------------------------------------------------


def test_latest_jpg_of_unknown_camera_is_404(client: TestClient, token: str) -> None:
    """Guards serving frames of cameras that are not configured."""
    resp = client.get("/api/cameras/nope/latest.jpg", headers=auth(token))
    assert resp.status_code == 404
    assert "nope" in resp.json()["detail"]


def test_latest_jpg_before_any_frame_is_204(client: TestClient, token: str) -> None:
    """Guards a 500 (or a stale placeholder) before the first frame arrives."""
    resp = client.get("/api/cameras/cam-a/latest.jpg", headers=auth(token))
    assert resp.status_code == 204
    assert resp.content == b""


@pytest.mark.parametrize("with_detections", [False, True])
def test_latest_jpg_is_the_annotated_frame(
    client: TestClient, token: str, live: LiveView, with_detections: bool
) -> None:
    """Guards latest.jpg returning something other than a JPEG of the frame's size, or the
    frame of another camera."""
    image = bus_image()
    frame = make_frame("cam-a", 4, image)
    live.offer_frame(frame)
    live.offer_frame(make_frame("cam-b", 9, np.zeros((120, 160, 3), np.uint8)))
    if with_detections:
        live.offer_detections(make_detections(frame, BUS_BOXES))
    resp = client.get("/api/cameras/cam-a/latest.jpg", headers=auth(token))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/jpeg"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Frame-Seq"] == "4"
    assert float(resp.headers["X-Frame-Age-S"]) > 3600  # captured at T0, long ago: stale
    assert resp.headers["X-Frame-Annotated"] == ("1" if with_detections else "0")
    decoded = cv2.imdecode(np.frombuffer(resp.content, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape == image.shape
    assert (resp.content == frame.jpeg) is not with_detections


# ---- tracks ---------------------------------------------------------------------------


def test_tracks_newest_first(client: TestClient, token: str) -> None:
    """Guards the order the control room relies on (latest tracks on top)."""
    resp = client.get("/api/tracks", headers=auth(token))
    assert resp.status_code == 200
    body = resp.json()
    assert ids(body) == expected()
    assert body["next"] is None


def test_track_items_have_the_documented_fields(client: TestClient, token: str) -> None:
    """Guards the item shape the page renders."""
    item = client.get("/api/tracks?limit=1", headers=auth(token)).json()["items"][0]
    for key in (
        "track_id",
        "cls",
        "cameras",
        "first_seen",
        "last_seen",
        "closed",
        "version",
        "tracklets",
        "has_crop",
    ):
        assert key in item
    assert "best_crop_jpeg" not in item


T_MID = SPECS[5].last_seen


@pytest.mark.parametrize(
    ("query", "pred"),
    [
        ("cls=car", lambda s: s.cls == "car"),
        ("cls=person", lambda s: s.cls == "person"),
        ("cls=bicycle", lambda s: False),
        ("camera=cam-b", lambda s: "cam-b" in s.cameras),
        ("camera=cam-a&cls=car", lambda s: "cam-a" in s.cameras and s.cls == "car"),
        ("camera=cam-z", lambda s: False),
        (f"since={T_MID}", lambda s: s.last_seen >= T_MID),
        (f"until={T_MID}", lambda s: s.first_seen <= T_MID),
        (
            f"since={SPECS[2].first_seen}&until={SPECS[4].first_seen}",
            lambda s: s.last_seen >= SPECS[2].first_seen and s.first_seen <= SPECS[4].first_seen,
        ),
        (f"since={T_MID}&until={T_MID}", lambda s: s.first_seen <= T_MID <= s.last_seen),
    ],
)
def test_track_filters(client: TestClient, token: str, query: str, pred: object) -> None:
    """Guards filters that are ignored, inverted or combined with OR instead of AND."""
    resp = client.get(f"/api/tracks?{query}", headers=auth(token))
    assert resp.status_code == 200, resp.text
    assert ids(resp.json()) == expected(pred)


@pytest.mark.parametrize("limit", [1, 5, 7, 12, 500])
def test_track_pagination_walks_every_track_once(
    client: TestClient, token: str, limit: int
) -> None:
    """Guards cursors that skip or repeat tracks, and a last page that still has a cursor."""
    seen: list[str] = []
    url = f"/api/tracks?limit={limit}"
    for _ in range(20):
        body = client.get(url, headers=auth(token)).json()
        assert len(body["items"]) <= limit
        seen += ids(body)
        if body["next"] is None:
            break
        url = f"/api/tracks?limit={limit}&cursor={body['next']}"
    assert seen == expected()


def test_track_pagination_keeps_filters(client: TestClient, token: str) -> None:
    """Guards a cursor page that drops the filter of the first page."""
    first = client.get("/api/tracks?cls=car&limit=2", headers=auth(token)).json()
    second = client.get(
        f"/api/tracks?cls=car&limit=2&cursor={first['next']}", headers=auth(token)
    ).json()
    assert ids(first) + ids(second) == expected(lambda s: s.cls == "car")


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("cls=horse", "cls"),
        ("cls=Car", "cls"),
        ("since=-1", "since"),
        ("until=yesterday", "until"),
        (f"since={T_MID + 1}&until={T_MID}", "since must not be after until"),
        ("camera=Main%20St", "camera"),
        ("cursor=%21%21%21not-base64", "invalid cursor"),
        (f"cursor={base64.urlsafe_b64encode(b'no-separator').decode()}", "invalid cursor"),
        (f"cursor={base64.urlsafe_b64encode(b'soon|t-1').decode()}", "invalid cursor"),
        (f"cursor={'A' * 600}", "cursor"),
    ],
)
def test_track_query_validation(client: TestClient, token: str, query: str, needle: str) -> None:
    """Guards a 500 or silently ignored parameter on bad input: it must be a 400 whose
    detail names the problem."""
    resp = client.get(f"/api/tracks?{query}", headers=auth(token))
    assert resp.status_code == 400, resp.text
    detail = resp.json()["detail"]
    assert isinstance(detail, str) and needle in detail


def test_track_by_id(client: TestClient, token: str) -> None:
    """Guards the detail route returning another track or a different shape."""
    spec: TrackSpec = next(s for s in SPECS if s.track_id == WITH_CROP)
    resp = client.get(f"/api/tracks/{WITH_CROP}", headers=auth(token))
    assert resp.status_code == 200
    body = resp.json()
    assert body["track_id"] == WITH_CROP and body["cls"] == spec.cls
    assert tuple(body["cameras"]) == tuple(sorted(spec.cameras))
    assert body["has_crop"] is True and body["tracklets"] == len(spec.cameras)


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/api/tracks/t-missing", 404, "no track"),
        ("/api/tracks/t-missing/crop.jpg", 404, "no track"),
        (f"/api/tracks/{WITHOUT_CROP}/crop.jpg", 404, "no crop"),
        (f"/api/tracks/{'x' * 65}", 400, "track_id"),
        ("/api/nothing-here", 404, "Not Found"),
    ],
)
def test_errors_are_json_with_a_clear_detail(
    client: TestClient, token: str, path: str, status: int, needle: str
) -> None:
    """Guards HTML or empty error bodies that the page cannot show."""
    resp = client.get(path, headers=auth(token))
    assert resp.status_code == status
    assert resp.headers["content-type"].startswith("application/json")
    assert needle in resp.json()["detail"]


def test_crop_is_the_stored_jpeg(client: TestClient, token: str, crop_jpeg: bytes) -> None:
    """Guards the crop route serving another track's crop or a wrong content type."""
    resp = client.get(f"/api/tracks/{WITH_CROP}/crop.jpg", headers=auth(token))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/jpeg"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.content == crop_jpeg
