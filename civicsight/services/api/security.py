"""Who is calling and what they may do: the API's only authentication and role checks.

A request is authenticated by a bearer token (``civicsight token``) or by the web
session cookie (``/api/auth/login``). With the cookie, every state-changing request
must carry the session's CSRF token in ``X-CSRF-Token`` (the cookie alone proves
nothing: a browser sends it for any site's form). A session opened with a one-time
password may only change it. Roles reach routes through ``require(Permission...)``;
searches also need a case id and a stated purpose (``SearchPurpose``), which the audit log
keeps.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from civicsight.audit import PURPOSE_CATEGORIES, SearchPurpose
from civicsight.auth import Permission, Principal, may
from civicsight.services.api.state import api_state

log = logging.getLogger("api")

SESSION_COOKIE = "cs_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PASSWORD_CHANGE_PATHS = {"/api/auth/password", "/api/auth/logout", "/api/me"}

_bearer = HTTPBearer(auto_error=False, description="token issued by `civicsight token`")


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(request: Request) -> str | None:
    """The bearer token of the Authorization header, if there is one."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def known_caller(request: Request) -> bool:
    """Whether the request carries valid credentials (a live token or session). Reads
    headers only: the body guard asks this before it reads a body."""
    state = api_state(request)
    token = bearer_token(request)
    if token:
        return bool(state.tokens.verify(token))
    cookie = request.cookies.get(SESSION_COOKIE)
    users = state.users
    return bool(cookie and users is not None and users.session(cookie, time.time()))


def principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller (bearer token or session cookie), or 401. Never logs a secret."""
    state = api_state(request)
    if creds is not None and creds.credentials:
        who = state.tokens.verify(creds.credentials)
        if who is None:
            client = request.client.host if request.client else "?"
            log.info("rejected a bearer token from %s for %s", client, request.url.path)
            raise unauthorized("invalid, expired or revoked token")
        return who
    cookie = request.cookies.get(SESSION_COOKIE)
    users = state.users
    if not cookie or users is None:
        raise unauthorized("sign in, or send a bearer token (Authorization: Bearer <token>)")
    session = users.session(cookie, time.time())
    if session is None:
        raise unauthorized("session expired or signed out")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent, session.csrf):
            raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")
    if session.must_change and request.url.path not in PASSWORD_CHANGE_PATHS:
        raise HTTPException(403, "change the one-time password first (POST /api/auth/password)")
    return session.principal


Authed = Annotated[Principal, Depends(principal)]
"""The current user: the one definition every route uses (``deps`` re-exports it)."""


def require(*needed: Permission) -> Any:
    """A dependency: the caller, if their role has every one of ``needed``; else 403."""

    def check(who: Authed) -> Principal:
        missing = [p.value for p in needed if not may(who.role, p)]
        if missing:
            raise HTTPException(403, f"role {who.role.value} may not: {', '.join(missing)}")
        return who

    return Depends(check)


def require_any(*needed: Permission) -> Any:
    """A dependency: the caller, if their role has at least one of ``needed``; else 403."""

    def check(who: Authed) -> Principal:
        if not any(may(who.role, p) for p in needed):
            wanted = " or ".join(p.value for p in needed)
            raise HTTPException(403, f"role {who.role.value} may not: {wanted}")
        return who

    return Depends(check)


def purpose(
    case: Annotated[
        str | None, Query(description="case id the search belongs to (required)")
    ] = None,
    purpose: Annotated[
        str | None, Query(description="stated purpose of the search (required)")
    ] = None,
    category: Annotated[
        str, Query(description=f"kind of purpose: {', '.join(PURPOSE_CATEGORIES)}")
    ] = "other",
) -> SearchPurpose:
    """The case and purpose of a search, checked by the audit log's own rules before the
    search runs (a search that could not be logged must not run)."""
    if not case or not purpose or not purpose.strip():
        raise HTTPException(400, "a search needs a case id (case=) and a stated purpose (purpose=)")
    try:
        return SearchPurpose(case=case, purpose=purpose, category=category)
    except ValidationError as err:
        field = str(err.errors()[0]["loc"][0])
    if field == "case":
        raise HTTPException(400, "case: 1-64 characters, letters, digits and . _ / -")
    if field == "category":
        raise HTTPException(400, f"category: one of {', '.join(PURPOSE_CATEGORIES)}")
    raise HTTPException(400, "purpose: 5 to 500 printable characters")


Purposed = Annotated[SearchPurpose, Depends(purpose)]
