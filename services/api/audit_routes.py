"""The audit log for the ``auditor`` role (and only for it): entries and a chain check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from civicsight.audit import ACTIONS, AuditEntry, AuditLog
from civicsight.auth import Permission
from services.api.auth_routes import audit
from services.api.params import time_query
from services.api.security import Authed, require

MAX_ENTRIES = 1000


class AuditPage(BaseModel):
    intact: bool = Field(description="the whole chain verifies (no edited or deleted entry)")
    problem: str = Field(description="the first problem found, empty when intact")
    entries: list[AuditEntry] = Field(description="newest last")


def audit_router() -> APIRouter:
    router = APIRouter(prefix="/api/audit", tags=["audit"])

    @router.get("", response_model=AuditPage, dependencies=[require(Permission.AUDIT)])
    def read(
        request: Request,
        who: Authed,
        since: Annotated[float | None, time_query("entries at or after (Unix seconds)")] = None,
        action: Annotated[str | None, Query(max_length=40, description="one action")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_ENTRIES)] = 200,
    ) -> AuditPage:
        log: AuditLog | None = request.app.state.audit
        if log is None:
            raise HTTPException(404, "no audit log on this hub")
        if action is not None and action not in ACTIONS:
            raise HTTPException(400, f"unknown action {action!r}")
        check = log.verify()
        entries = log.entries(since=since, action=action, limit=limit)
        audit(request, who.label, who.role.value, "audit.read", {"since": since, "action": action})
        return AuditPage(intact=check.ok, problem=check.problem, entries=entries)

    return router
