"""``/api/live/ws``: one WebSocket per control-room page that pushes the camera wall's
annotated frames, the event feed and service health, so a wall of 16 tiles costs the API
one connection instead of 32 image requests a second.

Protocol (JSON text messages both ways, frames as binary messages):

- Sign-in: a password session's cookie is enough; a token holder sends
  ``{"type": "auth", "token": "cs_..."}`` first (a browser cannot put a header on a
  WebSocket, and a token in the URL would land in logs). No sign-in within 5 s, or a role
  without ``live``: the socket closes with 4401 / 4403. The credentials are checked again
  every 30 s: a revoked or expired token closes the socket (4401).
- ``{"type": "watch", "cameras": {"<id>": <fps>, ...}}`` chooses the tiles and their rate
  (at most the camera's own rate and ``MAX_FPS``); an enlarged tile simply asks for more.
- Binary frame: 4 bytes (big-endian length of the header), a JSON header
  ``{"camera_id", "seq", "captured_at", "age_s", "annotated"}``, then the JPEG. Only the
  newest frame of a camera is ever sent: a slow client skips frames, it never queues them.
  Faces are blurred unless the role has ``faces``, as on ``latest.jpg``.
- ``{"type": "feed", "items": [...], "cursor": N, "missed": K}``: new feed items the role may
  see (``services.api.feed``); ``{"type": "events", "after": N}`` resumes after a cursor.
- ``{"type": "health", "services": [...], "cameras": [...]}`` every ``HEALTH_S``.

Cross-site pages cannot open it: an ``Origin`` that is not this host is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from civicsight.auth import Permission, Principal, may
from civicsight.services.api.deps import State
from civicsight.services.api.live import camera_states
from civicsight.services.api.security import SESSION_COOKIE
from civicsight.services.api.state import ApiState

log = logging.getLogger("api.live")

MAX_FPS = 10.0
TICK_S = 0.05
HEALTH_S = 2.0
RECHECK_S = 30.0
AUTH_WAIT_S = 5.0


def frame_message(header: dict[str, Any], jpeg: bytes) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack(">I", len(head)) + head + jpeg


class Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


router = APIRouter()


def verify(state: ApiState, ws: WebSocket, token: str | None) -> Principal | None:
    if token:
        return state.tokens.verify(token)
    cookie = ws.cookies.get(SESSION_COOKIE)
    users = state.users
    if not cookie or users is None:
        return None
    session = users.session(cookie, time.time())
    if session is None or session.must_change:
        return None
    return session.principal


async def sign_in(state: ApiState, ws: WebSocket) -> tuple[Principal, str | None]:
    who = verify(state, ws, None)
    if who is not None:
        return who, None
    try:
        first = await asyncio.wait_for(ws.receive_json(), AUTH_WAIT_S)
    except (TimeoutError, ValueError, WebSocketDisconnect):
        raise Closed(4401, "sign in: send {type: auth, token} first") from None
    token = first.get("token") if isinstance(first, dict) else None
    if not isinstance(token, str) or first.get("type") != "auth":
        raise Closed(4401, "sign in: send {type: auth, token} first")
    who = verify(state, ws, token)
    if who is None:
        raise Closed(4401, "invalid, expired or revoked token")
    return who, token


@router.websocket("/api/live/ws")
async def live_socket(ws: WebSocket, state: State) -> None:
    origin = ws.headers.get("origin")
    if origin and urlsplit(origin).netloc != ws.headers.get("host"):
        await ws.close(code=4403, reason="cross-site socket refused")
        return
    await ws.accept()
    try:
        who, token = await sign_in(state, ws)
        if not may(who.role, Permission.LIVE):
            raise Closed(4403, f"role {who.role.value} may not: live")
        await serve(state, ws, who, token)
    except Closed as closed:
        with contextlib.suppress(Exception):
            await ws.send_json({"type": "error", "detail": closed.reason})
            await ws.close(code=closed.code, reason=closed.reason[:120])
    except WebSocketDisconnect:
        pass


async def serve(state: ApiState, ws: WebSocket, who: Principal, token: str | None) -> None:
    live, feed, cameras = state.live, state.feed, state.cameras
    fps_of = {c.id: c.fps for c in cameras.all()}
    watching: dict[str, float] = {}
    cursor = feed.items.last
    await ws.send_json(
        {"type": "hello", "label": who.label, "role": who.role.value, "cursor": cursor}
    )

    async def receive() -> None:
        nonlocal cursor
        while True:
            msg = await ws.receive_json()
            if not isinstance(msg, dict):
                continue
            if msg.get("type") == "watch" and isinstance(msg.get("cameras"), dict):
                watching.clear()
                for cam, fps in msg["cameras"].items():
                    if cam in fps_of and isinstance(fps, int | float) and fps > 0:
                        watching[cam] = min(float(fps), fps_of[cam], MAX_FPS)
            elif msg.get("type") == "events" and isinstance(msg.get("after"), int):
                cursor = max(0, msg["after"])

    async def send() -> None:
        nonlocal cursor
        redact = not may(who.role, Permission.FACES)
        sent: dict[str, tuple[int, float]] = {}
        next_at: dict[str, float] = {}
        health_at = recheck_at = 0.0
        while True:
            now = time.monotonic()
            for cam, fps in list(watching.items()):
                if now < next_at.get(cam, 0.0):
                    continue
                newest = live.latest(cam)
                if newest is None:
                    continue
                key = (newest.frame.seq, newest.frame.captured_at)
                if sent.get(cam) == key and newest.detections is not None:
                    continue
                found = await asyncio.to_thread(live.annotated, cam, redact)
                if found is None:
                    continue
                jpeg, shown = found
                sent[cam] = (shown.frame.seq, shown.frame.captured_at)
                # keep the cadence (not "now + period": the tick would slow it down)
                due = next_at.get(cam, now) + 1.0 / fps
                next_at[cam] = due if due > now else now + 1.0 / fps
                header = {
                    "camera_id": cam,
                    "seq": shown.frame.seq,
                    "captured_at": shown.frame.captured_at,
                    "age_s": round(max(0.0, time.time() - shown.frame.captured_at), 2),
                    "annotated": shown.detections is not None,
                }
                await ws.send_bytes(frame_message(header, jpeg))
            if feed.items.last != cursor:
                page = feed.after(cursor, who)
                cursor = page.cursor
                if page.items or page.missed:
                    await ws.send_json(
                        {
                            "type": "feed",
                            "items": [i.model_dump(mode="json") for i in page.items],
                            "cursor": page.cursor,
                            "missed": page.missed,
                        }
                    )
            if now >= health_at:
                health_at = now + HEALTH_S
                wall = time.time()
                await ws.send_json(
                    {
                        "type": "health",
                        "services": [s.model_dump(mode="json") for s in feed.health.services(wall)],
                        "cameras": [
                            c.model_dump(mode="json")
                            for c in camera_states(cameras.all(), live, wall)
                        ],
                    }
                )
            if now >= recheck_at:
                recheck_at = now + RECHECK_S
                if verify(state, ws, token) is None:
                    raise Closed(4401, "your session ended: sign in again")
            await asyncio.sleep(TICK_S)

    tasks = [asyncio.create_task(receive()), asyncio.create_task(send())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # re-raises Closed / WebSocketDisconnect
    finally:
        for task in tasks:
            task.cancel()
