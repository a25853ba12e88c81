"""Administration for the ``admin`` role (``manage``): users, API tokens, the analytics of
each camera, and the retention policy in force.

- Users: list; add with a role (the answer holds a one-time password, shown only there);
  reset a password (a new one-time password; every session of the user ends, and the
  password must be changed at the next sign-in); disable (sessions end) and enable. An
  administrator cannot disable themselves.
- Tokens: list (never a token or its hash); issue with a role, label and lifetime (the
  answer holds the token, shown only there); revoke.
- Cameras: ``PUT /api/cameras/{id}/analytics`` replaces a camera's analytics. The body is
  the camera file's own model (``civicsight.cameras.Analytics``): face matching needs a
  purpose and a legal basis, or it is a 400 that says so; switching it off removes both,
  so switching it on again means stating them anew. The camera's file is rewritten
  atomically with every other field kept (``save_analytics``), and the API's camera
  registry follows. The faces, plates and re-ID services read the camera files again within
  seconds; detection changes take effect when ingest and detect restart.
- Retention: the policy in force, per data class its period and where it applies (the
  topics that carry it, with their capped ``retention.ms``).

Every change is audited: ``user.add``, ``user.password_reset``, ``user.disable``,
``user.enable``, ``token.issue``, ``token.revoke``, ``camera.faces_enabled`` (with the
purpose and legal basis), ``camera.faces_disabled`` and ``setting.change`` (other
analytics). A change's audit details are checked before the change is made, so nothing
is done that cannot be recorded; no password or token ever reaches an entry or a log
line. Reading the lists is not audited: they hold staff accounts and settings, nothing
about the public.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Annotated, Literal

from fastapi import APIRouter, Body, HTTPException
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from civicsight.audit import AuditError, AuditLog, canonical_details
from civicsight.auth import MAX_LABEL_CHARS, MAX_TOKEN_DAYS, Permission, Principal, Role, TokenInfo
from civicsight.cameras import Analytics, CameraConfigError
from civicsight.retention import DEFAULT_POLICY, RetentionPolicy
from civicsight.services.api.deps import Audit, Authed, Camera, Cameras, Retention, Tokens, Users
from civicsight.services.api.security import require
from civicsight.topics import TOPICS
from civicsight.transparency import RetentionRow, retention_rows
from civicsight.users import USERNAME, UnknownUserError, UserInfo, UserStore

UserName = Annotated[str, PathParam(pattern=USERNAME.pattern, description="user name")]
TokenId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{16}$", description="token id")]

router = APIRouter(tags=["admin"], dependencies=[require(Permission.MANAGE)])


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UserOut(_Frozen):
    username: str
    role: Role
    state: Literal["active", "must_change_password", "disabled"] = Field(
        description="disabled: cannot sign in; must_change_password: holds a one-time password"
    )
    created_at: float
    disabled_at: float | None

    @classmethod
    def of(cls, u: UserInfo) -> UserOut:
        state: Literal["active", "must_change_password", "disabled"] = (
            "disabled"
            if u.disabled_at is not None
            else "must_change_password"
            if u.must_change
            else "active"
        )
        return cls(
            username=u.username,
            role=u.role,
            state=state,
            created_at=u.created_at,
            disabled_at=u.disabled_at,
        )


class NewUser(_Frozen):
    username: str = Field(
        pattern=USERNAME.pattern, description="2-64 characters: a-z first, then a-z 0-9 . _ -"
    )
    role: Role = Field(description="what the user may do")


class OneTimePassword(_Frozen):
    user: UserOut
    one_time_password: str = Field(
        description="shown only in this answer; the user must change it at the first sign-in"
    )


class TokenOut(_Frozen):
    token_id: str = Field(description="public handle of the token (not the token)")
    role: Role
    label: str
    created_at: float
    expires_at: float
    revoked_at: float | None
    state: Literal["live", "expired", "revoked"]

    @classmethod
    def of(cls, t: TokenInfo, now: float) -> TokenOut:
        state: Literal["live", "expired", "revoked"] = (
            "revoked" if t.revoked_at is not None else "live" if t.live(now) else "expired"
        )
        return cls(
            token_id=t.token_id,
            role=t.role,
            label=t.label,
            created_at=t.created_at,
            expires_at=t.expires_at,
            revoked_at=t.revoked_at,
            state=state,
        )


class NewToken(_Frozen):
    role: Role = Field(description="what the token may do")
    label: str = Field(
        min_length=1, max_length=MAX_LABEL_CHARS, description="who or what it is for"
    )
    days: float = Field(
        30.0, gt=0, le=MAX_TOKEN_DAYS, description=f"lifetime in days (at most {MAX_TOKEN_DAYS})"
    )


class IssuedToken(_Frozen):
    token: TokenOut
    secret: str = Field(description="the token itself: shown only in this answer")


class TopicRetention(_Frozen):
    topic: str
    retention_ms: int = Field(description="the topic's retention.ms (capped at 7 days)")


class RetentionRowOut(_Frozen):
    data_class: str
    keep_s: float | None = Field(description="seconds kept; null: until the entry expires")
    keep: str
    what: str
    topics: list[TopicRetention] = Field(description="Kafka topics that carry this class")

    @classmethod
    def of(cls, row: RetentionRow, policy: RetentionPolicy) -> RetentionRowOut:
        topics = [
            TopicRetention(topic=t.name, retention_ms=t.retention_ms(policy))
            for t in TOPICS
            if t.data_class == row.data_class
        ]
        return cls(**row.model_dump(), topics=topics)


class RetentionOut(_Frozen):
    site_file: bool = Field(description="the site changed the defaults (CIVICSIGHT_RETENTION_FILE)")
    rows: list[RetentionRowOut]


def auditable(details: Mapping[str, object]) -> dict[str, object]:
    """``details`` if the audit log will take them; else 400, before anything is done."""
    try:
        canonical_details(details)
    except AuditError as err:
        raise HTTPException(400, str(err)) from None
    return dict(details)


def analytics_changes(
    camera_id: str, old: Analytics, new: Analytics
) -> list[tuple[str, dict[str, object]]]:
    """The audit entries (action, details) a change of a camera's analytics makes: face
    matching switched on (or its purpose or legal basis changed while on) gives
    ``camera.faces_enabled``, switched off ``camera.faces_disabled`` (the details the faces
    service writes too); detection, plates or re-ID changed give one ``setting.change``.
    No change, no entry."""
    out: list[tuple[str, dict[str, object]]] = []
    reason = (new.faces_purpose, new.faces_legal_basis)
    old_reason = (old.faces_purpose, old.faces_legal_basis)
    if new.faces and (not old.faces or reason != old_reason):
        enabled: dict[str, object] = {"camera_id": camera_id}
        enabled.update(purpose=reason[0], legal_basis=reason[1])
        out.append(("camera.faces_enabled", enabled))
    elif old.faces and not new.faces:
        out.append(("camera.faces_disabled", {"camera_id": camera_id}))
    others = ("detect", "plates", "reid")
    changed = {n: getattr(new, n) for n in others if getattr(new, n) != getattr(old, n)}
    if changed:
        setting: dict[str, object] = {"camera_id": camera_id, "setting": "analytics"}
        out.append(("setting.change", {**setting, "changed": changed}))
    return out


def act(trail: AuditLog, who: Principal, action: str, details: Mapping[str, object]) -> None:
    trail.append(who.label, who.role.value, action, details)


# ---- users


@router.get("/api/admin/users", response_model=list[UserOut])
def list_users(users: Users) -> list[UserOut]:
    return [UserOut.of(u) for u in users.users()]


@router.post("/api/admin/users", response_model=OneTimePassword, status_code=201)
def add_user(
    users: Users, trail: Audit, who: Authed, body: Annotated[NewUser, Body()]
) -> OneTimePassword:
    details = auditable({"user": body.username, "user_role": body.role.value})
    try:
        secret = users.add(body.username, body.role, time.time())
    except ValueError as err:
        raise HTTPException(409, str(err)) from None
    act(trail, who, "user.add", details)
    found = users.user(body.username)
    assert found is not None
    return OneTimePassword(user=UserOut.of(found), one_time_password=secret)


@router.post("/api/admin/users/{username}/reset-password", response_model=OneTimePassword)
def reset_password(users: Users, trail: Audit, who: Authed, username: UserName) -> OneTimePassword:
    details = auditable({"user": username})
    try:
        secret = users.reset_password(username)
    except UnknownUserError as err:
        raise HTTPException(404, str(err)) from None
    act(trail, who, "user.password_reset", details)
    found = users.user(username)
    assert found is not None
    return OneTimePassword(user=UserOut.of(found), one_time_password=secret)


def _switch(
    users: UserStore, trail: AuditLog, who: Principal, username: str, enable: bool
) -> UserOut:
    details = auditable({"user": username})
    if not enable and username == who.label:
        raise HTTPException(409, "you cannot disable yourself: ask another administrator")
    try:
        changed = users.enable(username) if enable else users.disable(username, time.time())
    except UnknownUserError as err:
        raise HTTPException(404, str(err)) from None
    if changed:
        act(trail, who, "user.enable" if enable else "user.disable", details)
    found = users.user(username)
    assert found is not None
    return UserOut.of(found)


@router.post("/api/admin/users/{username}/disable", response_model=UserOut)
def disable_user(users: Users, trail: Audit, who: Authed, username: UserName) -> UserOut:
    return _switch(users, trail, who, username, enable=False)


@router.post("/api/admin/users/{username}/enable", response_model=UserOut)
def enable_user(users: Users, trail: Audit, who: Authed, username: UserName) -> UserOut:
    return _switch(users, trail, who, username, enable=True)


# ---- tokens


@router.get("/api/admin/tokens", response_model=list[TokenOut])
def list_tokens(tokens: Tokens) -> list[TokenOut]:
    now = time.time()
    listed = sorted(tokens.issued(), key=lambda t: -t.created_at)
    return [TokenOut.of(t, now) for t in listed]


@router.post("/api/admin/tokens", response_model=IssuedToken, status_code=201)
def issue_token(
    tokens: Tokens, trail: Audit, who: Authed, body: Annotated[NewToken, Body()]
) -> IssuedToken:
    ttl_s = body.days * 86400
    planned = {"token_id": "0" * 16, "token_role": body.role.value, "label": body.label}
    details = auditable({**planned, "ttl_s": ttl_s})
    try:
        secret, info = tokens.issue_listed(body.role, body.label, ttl_s)
    except ValueError as err:
        raise HTTPException(400, f"label: {err}") from None
    try:
        act(trail, who, "token.issue", {**details, "token_id": info.token_id})
    except Exception:
        tokens.revoke(info.token_id)  # a token that was not logged must die
        raise
    return IssuedToken(token=TokenOut.of(info, time.time()), secret=secret)


@router.post("/api/admin/tokens/{token_id}/revoke", response_model=TokenOut)
def revoke_token(tokens: Tokens, trail: Audit, who: Authed, token_id: TokenId) -> TokenOut:
    found = tokens.get(token_id)
    if found is None:
        raise HTTPException(404, f"no token {token_id!r}")
    if not tokens.revoke(token_id):
        raise HTTPException(409, f"token {token_id} is already revoked")
    details = {"token_id": token_id, "token_role": found.role.value, "why": "revoked"}
    act(trail, who, "token.revoke", details)
    revoked = tokens.get(token_id)
    assert revoked is not None
    return TokenOut.of(revoked, time.time())


# ---- cameras


@router.put("/api/cameras/{camera_id}/analytics", response_model=Analytics)
def put_analytics(
    camera: Camera,
    cameras: Cameras,
    trail: Audit,
    who: Authed,
    analytics: Annotated[
        Analytics, Body(description="the camera's analytics; faces need purpose and basis")
    ],
) -> Analytics:
    camera_id = camera.id
    if not analytics.faces:  # switched on again, faces need their reasons stated anew
        analytics = analytics.model_copy(update={"faces_purpose": None, "faces_legal_basis": None})
    with cameras.changing():  # the camera as it is now, decided on and saved in one go
        old = cameras.get(camera_id) or camera
        changes = analytics_changes(camera_id, old.analytics, analytics)
        for _action, details in changes:
            auditable(details)
        if cameras.folder is None:
            raise HTTPException(503, "this API has no cameras folder: cameras cannot be saved")
        if not changes:
            return old.analytics  # nothing to change, nothing to record
        try:
            updated = cameras.save_analytics(camera_id, analytics)
        except CameraConfigError as err:
            raise HTTPException(409, f"the camera file cannot be saved: {err}") from None
    for action, details in changes:
        act(trail, who, action, details)
    return updated.analytics


# ---- retention


@router.get("/api/admin/retention", response_model=RetentionOut)
def retention(policy: Retention) -> RetentionOut:
    return RetentionOut(
        site_file=policy != DEFAULT_POLICY,
        rows=[RetentionRowOut.of(r, policy) for r in retention_rows(policy)],
    )
