"""Request bodies are read only from known callers, only up to a size, and only so slowly.

FastAPI reads and parses a request's body (a multipart upload included) before any
dependency runs, so the bearer-token check of a route comes too late to protect the
server from a stranger's 100 MB upload or from a body that never finishes. This ASGI
middleware sits in front of every route and, for each request that carries a body:

1. refuses a declared ``Content-Length`` over the route's limit (413) at once;
2. refuses a caller without valid credentials (401) before reading a byte of the body,
   except on the few routes meant for strangers (sign-in);
3. reads the body itself, chunked bodies included, stopping at the limit (413) or when
   the whole body has not arrived within ``timeout_s`` (408);
4. hands the application the body it read.

Refusals close the connection. Role checks, CSRF and validation stay with the routes:
this guard only makes sure no unknown caller gets the server to read much.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
DEFAULT_LIMIT = 64 * 1024
DEFAULT_TIMEOUT_S = 10.0


class BodyGuard:
    """See the module doc. ``known(request)`` says whether the caller's credentials are
    valid (it must not read the body)."""

    def __init__(
        self,
        app: ASGIApp,
        known: Callable[[Request], bool],
        limits: Mapping[str, int] | None = None,
        open_paths: Collection[str] = (),
        default_limit: int = DEFAULT_LIMIT,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.app = app
        self.known = known
        self.limits = dict(limits or {})
        self.open_paths = frozenset(open_paths)
        self.default_limit = default_limit
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODYLESS:
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = self.limits.get(path, self.default_limit)
        request = Request(scope)
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await refuse(send, 400, "Content-Length must be a number")
                return
            if int(declared) > limit:
                await refuse(send, 413, too_large(limit))
                return
        if path not in self.open_paths and not self.known(request):
            await refuse(
                send,
                401,
                "sign in, or send a bearer token (Authorization: Bearer <token>)",
                {"WWW-Authenticate": "Bearer"},
            )
            return
        try:
            body = await read_body(receive, limit, self.timeout_s)
        except BodyTooLargeError:
            await refuse(send, 413, too_large(limit))
            return
        except TimeoutError:
            await refuse(send, 408, f"the request body did not arrive within {self.timeout_s:g} s")
            return
        except ClientGoneError:
            return
        await self.app(scope, replay(body, receive), send)


class BodyTooLargeError(Exception):
    pass


class ClientGoneError(Exception):
    pass


def too_large(limit: int) -> str:
    return f"upload too large: at most {limit // 1024} KiB"


async def read_body(receive: Receive, limit: int, timeout_s: float) -> bytes:
    """The whole body, or BodyTooLargeError past ``limit`` bytes, or TimeoutError when it
    is not complete ``timeout_s`` after the first call."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    body = bytearray()
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError
        async with asyncio.timeout(remaining):
            message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGoneError
        body += message.get("body", b"")
        if len(body) > limit:
            raise BodyTooLargeError
        if not message.get("more_body", False):
            return bytes(body)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the read body once, then waits on the real one (for the
    client's disconnect)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def refuse(
    send: Send, status: int, detail: str, headers: Mapping[str, str] | None = None
) -> None:
    """A JSON error that also closes the connection (the unread body is dropped)."""
    payload = json.dumps({"detail": detail}).encode()
    raw: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
        (b"cache-control", b"no-store"),
    ]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
