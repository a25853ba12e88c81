"""Sign-in for people: ``/api/auth/login``, ``/logout`` and ``/password``.

Sessions live in an HttpOnly, SameSite=Strict cookie; the CSRF token comes back in the
answer body for the page to echo in ``X-CSRF-Token``. Failed logins and wrong current
passwords are throttled per user and per client address (429 with ``Retry-After``).
Signing out with an API token revokes the token.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from civicsight.services.api.deps import (
    NO_PASSWORDS,
    Audit,
    Authed,
    MaybeUsers,
    Tokens,
    Users,
)
from civicsight.services.api.security import SESSION_COOKIE, bearer_token
from civicsight.users import MAX_PASSWORD, LoginRefusedError, LoginThrottledError, Session

router = APIRouter(prefix="/api/auth", tags=["auth"])


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old: str = Field(min_length=1, max_length=MAX_PASSWORD)
    new: str = Field(min_length=1, max_length=MAX_PASSWORD)


class SessionOut(BaseModel):
    username: str
    role: str
    csrf_token: str = Field(description="echo in X-CSRF-Token on every POST/PUT/DELETE")
    must_change_password: bool
    expires_at: float


def _start(request: Request, response: Response, session: Session) -> SessionOut:
    response.set_cookie(
        SESSION_COOKIE,
        session.session_id,
        max_age=int(session.expires_at - time.time()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return SessionOut(
        username=session.principal.label,
        role=session.principal.role.value,
        csrf_token=session.csrf,
        must_change_password=session.must_change,
        expires_at=session.expires_at,
    )


def client_address(request: Request) -> str:
    """The peer's address. Forwarded headers count only from the proxies named in
    ``CIVICSIGHT_TRUSTED_PROXIES`` (uvicorn applies them before this runs)."""
    return request.client.host if request.client else "?"


@router.post("/login", response_model=SessionOut)
def login(
    request: Request,
    response: Response,
    users: Users,
    trail: Audit,
    body: Annotated[Login, Body()],
) -> SessionOut:
    client = client_address(request)
    try:
        session = users.login(body.username, body.password, client, time.time())
    except LoginThrottledError as err:
        raise HTTPException(429, str(err), headers={"Retry-After": str(err.retry_after)}) from None
    except LoginRefusedError as err:
        # a name typed into the user field may be a password: only a real user's name is
        # logged in clear, anything else as a keyed pseudonym
        attempted = body.username if users.exists(body.username) else trail.pseudonym(body.username)
        trail.append(attempted, "unknown", "login.failed", {"client": client})
        raise HTTPException(401, str(err)) from None
    who = session.principal
    trail.append(who.label, who.role.value, "login", {"ok": True, "method": "password"})
    return _start(request, response, session)


@router.post("/logout", status_code=204)
def logout(
    request: Request, tokens: Tokens, users: MaybeUsers, trail: Audit, who: Authed
) -> Response:
    """Ends the caller's session; a caller who signed in with an API token revokes it."""
    if bearer_token(request):
        tokens.revoke(who.token_id)
        details = {"token_id": who.token_id, "token_role": who.role.value, "why": "logout"}
        trail.append(who.label, who.role.value, "token.revoke", details)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie and users is not None:
            users.logout(cookie)
    trail.append(who.label, who.role.value, "logout", {})
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/password", response_model=SessionOut)
def change_password(
    request: Request,
    response: Response,
    users: MaybeUsers,
    trail: Audit,
    who: Authed,
    body: Annotated[PasswordChange, Body()],
) -> SessionOut:
    if not who.token_id.startswith("session:"):
        raise HTTPException(400, "API tokens have no password; sign in with a user name")
    if users is None:  # a session means password sign-in is on: never, in fact
        raise HTTPException(404, NO_PASSWORDS)
    try:
        session = users.change_password(
            who.label, body.old, body.new, client_address(request), time.time()
        )
    except LoginThrottledError as err:
        raise HTTPException(429, str(err), headers={"Retry-After": str(err.retry_after)}) from None
    except LoginRefusedError as err:
        raise HTTPException(403, str(err)) from None
    except ValueError as err:
        raise HTTPException(400, str(err)) from None
    trail.append(who.label, who.role.value, "password.changed", {})
    return _start(request, response, session)
