"""The audit log for the ``auditor`` role (and only for it): entries, filtered and paged,
with a chain check, and per-case summaries. Read-only; every read is itself audited
(``audit.read``, with the filters used).

``GET /api/audit`` filters in SQL (``AuditLog.entries``): by user (``actor``), action (one
or several; ``search.*`` stands for every action of that family), case
(``details.case_id``, through an index), time (``since``, ``until``); ``order=newest``
gives the newest first; ``cursor`` is the answer's ``next`` (the last entry's ``seq``).
The whole chain is verified (HMAC of every entry) when ``verify`` is true, the default:
a page that loads more or changes a filter passes ``verify=false``, since on a year-long
log the check reads every entry. The answer also carries the last scheduled check
(``audit.verified``, daily in ``civicsight up``).

``GET /api/audit/cases`` summarises what was done under each case (``civicsight.
audit_cases``): the users, the entries per action, searches, results, tracks opened, first
and last time, newest activity first.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from civicsight.audit import ACTIONS, CASE_PATTERN, NAME, TOKEN_LIKE, AuditEntry, AuditLog
from civicsight.audit_cases import CaseSummary, summarise_cases
from civicsight.auth import Permission
from civicsight.services.api.deps import Audit, Authed
from civicsight.services.api.params import time_query
from civicsight.services.api.security import require

MAX_ENTRIES = 1000
MAX_CASES = 500

router = APIRouter(prefix="/api/audit", tags=["audit"], dependencies=[require(Permission.AUDIT)])


class ScheduledCheck(BaseModel):
    """The newest ``audit.verified`` entry: the last scheduled check of the chain."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    at: float = Field(description="when it ran (Unix)")
    ok: bool = Field(description="whether the chain was intact then")
    checked: int = Field(description="how many entries it checked")
    problem: str = Field(description="the first problem it found, empty when intact")


class AuditPage(BaseModel):
    intact: bool | None = Field(
        description="the whole chain verifies (no edited or deleted entry); null when "
        "not checked (verify=false)"
    )
    problem: str = Field(description="the first problem found, empty when intact")
    checked: int | None = Field(description="entries the check covered; null when not checked")
    problem_seq: int | None = Field(description="the entry at (or just after) the problem")
    scheduled: ScheduledCheck | None = Field(description="the last scheduled chain check")
    entries: list[AuditEntry] = Field(description="in the order asked for (order=)")
    next: int | None = Field(description="cursor of the next page; null on the last page")


class CasePage(BaseModel):
    cases: list[CaseSummary] = Field(description="newest activity first")
    total: int = Field(description="cases found (more than listed when over limit)")


def scheduled_check(log: AuditLog) -> ScheduledCheck | None:
    entry = log.latest("audit.verified")
    if entry is None:
        return None
    d = entry.details
    return ScheduledCheck(
        at=entry.at,
        ok=d.get("ok") is True,
        checked=int(d.get("checked") or 0),
        problem=str(d.get("problem") or ""),
    )


def actions_asked(asked: list[str] | None) -> set[str] | None:
    """The actions named (``family.*`` expanded); 400 for one the log does not know."""
    if not asked:
        return None
    out: set[str] = set()
    for name in asked:
        if name.endswith(".*") and any(a.startswith(name[:-1]) for a in ACTIONS):
            out |= {a for a in ACTIONS if a.startswith(name[:-1])}
        elif name in ACTIONS:
            out.add(name)
        else:
            raise HTTPException(400, f"action: unknown action {name[:40]!r}")
    return out


def check_actor(actor: str | None) -> str | None:
    if actor is not None and (not NAME.fullmatch(actor) or TOKEN_LIKE.search(actor)):
        raise HTTPException(400, "actor: a user name (printable, at most 120 characters)")
    return actor


CaseFilter = Annotated[
    str | None,
    Query(pattern=CASE_PATTERN, description="only entries of this case (details.case_id)"),
]
Since = Annotated[float | None, time_query("entries at or after (Unix seconds)")]
Until = Annotated[float | None, time_query("entries at or before (Unix seconds)")]


@router.get("", response_model=AuditPage)
def read(
    log: Audit,
    who: Authed,
    since: Since = None,
    until: Until = None,
    actor: Annotated[
        str | None, Query(max_length=120, description="only entries by this user")
    ] = None,
    action: Annotated[
        list[str] | None,
        Query(description="only these actions (repeat; search.* for all of a family)"),
    ] = None,
    case: CaseFilter = None,
    order: Annotated[
        Literal["oldest", "newest"], Query(description="chain order, or newest first")
    ] = "oldest",
    cursor: Annotated[
        int | None, Query(ge=0, description="the 'next' of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ENTRIES)] = 200,
    verify: Annotated[bool, Query(description="verify the whole chain (slow)")] = True,
) -> AuditPage:
    actions = actions_asked(action)
    check_actor(actor)
    if since is not None and until is not None and since > until:
        raise HTTPException(400, "since must not be after until")
    check = log.verify() if verify else None
    newest = order == "newest"
    entries = log.entries(
        since=since,
        until=until,
        action=actions,
        actor=actor,
        case=case,
        cursor=cursor,
        newest_first=newest,
        limit=limit + 1,
    )
    more = len(entries) > limit
    entries = entries[:limit]
    asked = {
        "since": since,
        "until": until,
        "actor": actor,
        "action": sorted(actions) if actions else None,
        "case": case,
        "order": order,
        "cursor": cursor,
        "verify": verify,
    }
    details = {k: v for k, v in asked.items() if v is not None}
    log.append(who.label, who.role.value, "audit.read", details)
    return AuditPage(
        intact=check.ok if check else None,
        problem=check.problem if check else "",
        checked=check.checked if check else None,
        problem_seq=check.seq if check else None,
        scheduled=scheduled_check(log),
        entries=entries,
        next=entries[-1].seq if more and entries else None,
    )


@router.get("/cases", response_model=CasePage)
def cases(
    log: Audit,
    who: Authed,
    since: Since = None,
    until: Until = None,
    case: CaseFilter = None,
    limit: Annotated[int, Query(ge=1, le=MAX_CASES)] = 100,
) -> CasePage:
    if since is not None and until is not None and since > until:
        raise HTTPException(400, "since must not be after until")
    found = summarise_cases(
        log.case_activity(since, until, case), log.case_tracks(since, until, case)
    )
    asked = {"view": "cases", "since": since, "until": until, "case": case}
    details = {k: v for k, v in asked.items() if v is not None}
    log.append(who.label, who.role.value, "audit.read", details)
    return CasePage(cases=found[:limit], total=len(found))
