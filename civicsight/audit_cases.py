"""Per-case summaries of the audit log for the auditor: under each case, who did what, how
many searches of each kind, how many results they returned, how many tracks were opened,
and when the case was first and last worked on.

``summarise_cases`` is pure: it folds the per (case, actor, action) rows that
``AuditLog.case_activity`` counts in SQL, and the per-case track counts of
``AuditLog.case_tracks``, into one summary per case, most recently active first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field

from civicsight.audit import CaseActivity

SEARCHES = frozenset({"search.tracks", "search.plates", "search.image", "search.biometric"})


class CaseSummary(BaseModel):
    """What the audit log holds about one case."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    case_id: str = Field(description="the case reference the entries carry")
    users: list[str] = Field(description="who acted under the case, by name")
    by_action: dict[str, int] = Field(description="entries per action (search.plates: 3, ...)")
    searches: int = Field(description="searches of every kind (search.*)")
    results: int = Field(description="results the searches returned, all pages together")
    tracks_opened: int = Field(description="different tracks viewed, thumbnailed or exported")
    first_at: float = Field(description="the case's first entry (Unix)")
    last_at: float = Field(description="the case's newest entry (Unix)")


def summarise_cases(
    rows: Iterable[CaseActivity], tracks: Mapping[str, int] | None = None
) -> list[CaseSummary]:
    """One summary per case, newest activity first (then by case id)."""
    grouped: dict[str, list[CaseActivity]] = {}
    for row in rows:
        grouped.setdefault(row.case_id, []).append(row)
    out = []
    for case_id, parts in grouped.items():
        by_action: dict[str, int] = {}
        for p in parts:
            by_action[p.action] = by_action.get(p.action, 0) + p.n
        out.append(
            CaseSummary(
                case_id=case_id,
                users=sorted({p.actor for p in parts}),
                by_action=dict(sorted(by_action.items())),
                searches=sum(p.n for p in parts if p.action in SEARCHES),
                results=sum(p.results for p in parts if p.action in SEARCHES),
                tracks_opened=(tracks or {}).get(case_id, 0),
                first_at=min(p.first_at for p in parts),
                last_at=max(p.last_at for p in parts),
            )
        )
    out.sort(key=lambda s: (-s.last_at, s.case_id))
    return out
