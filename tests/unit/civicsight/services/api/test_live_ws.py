"""The control room's WebSocket over a real uvicorn server: sign-in by cookie or token
message, role checks, frames of the watched cameras only (blurred for roles without
faces), the event feed each role may see, health, and the end of a revoked session."""

from __future__ import annotations

import contextlib
import json
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.cameras import CameraConfig
from civicsight.events import FaceObservation, Heartbeat, TrackletRef, TrackUpdate
from civicsight.services.api import live_ws
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.feed import Feed
from civicsight.services.api.live import LiveView
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.users import UserStore
from tests.support import serving

from .conftest import BUS_BOXES, bus_image, make_detections, make_frame


@dataclass
class Hub:
    url: str
    base: str
    tokens: TokenStore
    users: UserStore
    live: LiveView
    feed: Feed


@pytest.fixture
def hub(
    store: SqliteTrackStore,
    tokens: TokenStore,
    cameras: list[CameraConfig],
    trail: AuditLog,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Hub]:
    monkeypatch.setattr(live_ws, "AUTH_WAIT_S", 1.0)
    monkeypatch.setattr(live_ws, "RECHECK_S", 0.5)
    users = UserStore(tmp_path / "auth.db")
    users.open()
    live, feed = LiveView(), Feed()
    image = bus_image()
    for cam in ("cam-a", "cam-b"):
        frame = make_frame(cam, 1, image, captured_at=time.time())
        live.offer_frame(frame)
        live.offer_detections(make_detections(frame, BUS_BOXES))
    app = create_app(
        ApiState(
            store=store,
            tokens=tokens,
            audit=trail,
            cameras=CameraRegistry(cameras),
            live=live,
            users=users,
            feed=feed,
        )
    )
    with serving(app) as url:
        ws_url = "ws" + url.removeprefix("http") + "/api/live/ws"
        yield Hub(ws_url, url, tokens, users, live, feed)
    users.close()


def messages(ws: ClientConnection, seconds: float) -> list[Any]:
    """Everything received within ``seconds``: dicts for text, (header, jpeg) for frames."""
    out: list[Any] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            raw = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            break
        if isinstance(raw, str):
            out.append(json.loads(raw))
        else:
            (n,) = struct.unpack(">I", raw[:4])
            out.append((json.loads(raw[4 : 4 + n]), raw[4 + n :]))
    return out


@contextlib.contextmanager
def token_socket(hub: Hub, role: Role) -> Iterator[ClientConnection]:
    with connect(hub.url) as ws:
        token = hub.tokens.issue(role, f"{role.value} wall")
        ws.send(json.dumps({"type": "auth", "token": token}))
        yield ws


def test_a_token_holder_gets_hello_frames_of_watched_cameras_and_health(hub: Hub) -> None:
    with token_socket(hub, Role.INVESTIGATOR) as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert hello["type"] == "hello" and hello["role"] == "investigator"
        ws.send(json.dumps({"type": "watch", "cameras": {"cam-a": 5}}))
        got = messages(ws, 2.5)
    frames = [m for m in got if isinstance(m, tuple)]
    assert frames, got
    assert {h["camera_id"] for h, _ in frames} == {"cam-a"}  # only what is watched
    header, jpeg = frames[0]
    assert jpeg[:2] == b"\xff\xd8" and header["annotated"] is True and header["seq"] == 1
    assert jpeg == hub.live.annotated("cam-a", redact=False)[0]  # type: ignore[index]
    health = [m for m in got if isinstance(m, dict) and m["type"] == "health"]
    assert health and {c["camera_id"]: c["state"] for c in health[0]["cameras"]} == {
        "cam-a": "live",
        "cam-b": "live",
    }


def test_a_viewer_gets_blurred_frames(hub: Hub) -> None:
    """Guards the wall showing faces to roles without the faces permission."""
    with token_socket(hub, Role.VIEWER) as ws:
        ws.recv(timeout=5)
        ws.send(json.dumps({"type": "watch", "cameras": {"cam-b": 5}}))
        frames = [m for m in messages(ws, 2.0) if isinstance(m, tuple)]
    assert frames and frames[0][1] == hub.live.annotated("cam-b", redact=True)[0]  # type: ignore[index]
    assert frames[0][1] != hub.live.annotated("cam-b", redact=False)[0]  # type: ignore[index]


def test_a_password_session_signs_in_by_its_cookie(hub: Hub) -> None:
    import httpx

    secret = hub.users.add("olga", Role.OPERATOR, time.time())
    base = hub.base
    resp = httpx.post(base + "/api/auth/login", json={"username": "olga", "password": secret})
    assert resp.status_code == 200, resp.text
    cookie = resp.headers["set-cookie"].split(";")[0]
    # a one-time password must be changed first: no live wall yet
    with (
        connect(hub.url, additional_headers={"Cookie": cookie}) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        messages(ws, 3.0)
        ws.recv(timeout=3)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    change = {"old": secret, "new": "a long enough passphrase"}
    csrf = {"X-CSRF-Token": resp.json()["csrf_token"], "Cookie": cookie}
    renewed = httpx.post(base + "/api/auth/password", json=change, headers=csrf)
    cookie = renewed.headers["set-cookie"].split(";")[0]
    with connect(hub.url, additional_headers={"Cookie": cookie}) as ws:
        hello = json.loads(ws.recv(timeout=5))
    assert hello == {"type": "hello", "label": "olga", "role": "operator", "cursor": 0}


@pytest.mark.parametrize(
    ("first", "code"),
    [
        (None, 4401),  # says nothing
        ({"type": "auth", "token": "cs_not-a-token"}, 4401),
        ({"type": "hello"}, 4401),
        ("auditor", 4403),
        ("traffic_analyst", 4403),
    ],
)
def test_sockets_without_a_live_role_are_closed(hub: Hub, first: Any, code: int) -> None:
    with connect(hub.url) as ws:
        if isinstance(first, dict):
            ws.send(json.dumps(first))
        elif isinstance(first, str):
            token = hub.tokens.issue(Role(first), "someone")
            ws.send(json.dumps({"type": "auth", "token": token}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code


def test_a_cross_site_page_cannot_open_it(hub: Hub) -> None:
    """Guards cross-site WebSocket hijacking with a signed-in user's cookie."""
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(hub.url, origin="http://attacker.example") as ws,  # type: ignore[arg-type]
    ):
        ws.recv(timeout=3)
    assert refused.value.response.status_code == 403


def test_a_revoked_token_ends_the_socket(hub: Hub) -> None:
    token = hub.tokens.issue(Role.VIEWER, "wall 9")
    with connect(hub.url) as ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        ws.recv(timeout=5)
        (info,) = [t for t in hub.tokens.issued() if t.label == "wall 9"]
        hub.tokens.revoke(info.token_id)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


@pytest.mark.parametrize(
    ("role", "types"),
    [(Role.VIEWER, ["track"]), (Role.OPERATOR, ["track", "alert"])],
)
def test_feed_items_arrive_as_each_role_may_see_them(
    hub: Hub, role: Role, types: list[str]
) -> None:
    with token_socket(hub, role) as ws:
        ws.recv(timeout=5)
        hub.feed.offer(
            TrackUpdate(
                track_id="g-00aa",
                version=1,
                cls="bus",
                tracklets=(
                    TrackletRef(camera_id="cam-a", track_id=3, first_seen=1.0, last_seen=2.0),
                ),
                first_seen=1.0,
                last_seen=2.0,
                emitted_at=3.0,
            )
        )
        hub.feed.offer(
            FaceObservation(
                camera_id="cam-a", track_id=9, captured_at=4.0, watchlist_id="w", entry_id="e",
                score=0.9, threshold=0.5,
            )
        )  # fmt: skip
        hub.feed.offer(
            Heartbeat(service="detect", instance="h:1", at=time.time(), started_at=0.0,
                      processed=3, interval_s=5.0)
        )  # fmt: skip
        got = messages(ws, 2.5)
    items = [i for m in got if isinstance(m, dict) and m["type"] == "feed" for i in m["items"]]
    assert [i["type"] for i in items] == types
    assert all(i["track_id"] is None for i in items)
    health = [m for m in got if isinstance(m, dict) and m["type"] == "health"]
    assert any(s["service"] == "detect" and s["state"] == "ok" for s in health[-1]["services"])
