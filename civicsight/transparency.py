"""What the public transparency page publishes: aggregates only, never a person, a plate, a
case, a track or a user.

Like the transparency portals some plate-reader vendors publish for their cities, it says
which cameras exist and what each analyses, how long each class of data is kept, how many
searches were made per month and for what kind of purpose, how many watchlist entries are
active, how many alerts were raised, confirmed and dismissed per month, and when the audit
log's chain was last checked, with what result.

``build_transparency`` is pure: every input is passed in, and what it reads from them is
chosen field by field (a camera's id, name and analytics, never its source or the purpose
and legal basis of its face matching, which may name a case; of an audit entry only its
month, action and purpose category, or its watchlist entry's expiry). Any count from 1 to
4 is published as the string ``"< 5"`` (``SUPPRESSED``); zero is published as 0, as
everywhere in the hub (``civicsight.disclosure.suppress``).

``from_log`` gathers the inputs from the audit log: the monthly counts are made by SQLite
(``AuditLog.monthly_counts``), so a year of searches is never read into Python.

What counts as a search: ``search.tracks``, ``search.plates``, ``search.image`` and
``search.biometric`` (``SEARCH_ACTIONS``), one per query an investigator ran. Opening a
track found by a search (``track.view``, ``thumbnail.view``) and exports are follow-ups of
a search, not searches, and are not counted.

Active watchlist entries are counted from the audit log (``watchlist.add`` minus
``watchlist.remove`` and ``watchlist.expired``, and not past their expiry) through
``watchlist_entries``, the one function to point at the watchlist store instead once the
kernel holds it. An entry added before the oldest audit entry still kept would be missed;
the audit log is kept at least 183 days and a watchlist entry lasts at most 365.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from civicsight.audit import PURPOSE_CATEGORIES, AuditEntry, AuditLog, MonthlyCount
from civicsight.cameras import CameraConfig
from civicsight.disclosure import MIN_COUNT, suppress
from civicsight.retention import DATA_CLASSES, RetentionPolicy

SUPPRESSED: Literal["< 5"] = "< 5"
Count = int | Literal["< 5"]
SEARCH_ACTIONS = ("search.tracks", "search.plates", "search.image", "search.biometric")
ALERT_ACTIONS = ("alert.raised", "alert.confirm", "alert.dismiss")
WATCHLIST_ACTIONS = ("watchlist.add", "watchlist.remove", "watchlist.expired")
ANALYTICS: tuple[Literal["detect", "plates", "reid", "faces"], ...] = (
    "detect",
    "plates",
    "reid",
    "faces",
)
MAX_MONTHS = 24
WATCHLIST_TEXT = "face watchlist entries: deleted at their expiry, at most 365 days"


def shown(n: int) -> Count:
    """A count as published: ``"< 5"`` from 1 to 4."""
    kept = suppress(n, MIN_COUNT)
    return SUPPRESSED if kept is None else kept


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PublicCamera(_Frozen):
    id: str = Field(description="camera id")
    name: str = Field(description="where the camera is, in words")
    simulated: bool = Field(description="a virtual camera built from sample media")
    analytics: list[Literal["detect", "plates", "reid", "faces"]] = Field(
        description="what runs on it: detect (people and vehicles, tracked), plates "
        "(licence plates), reid (re-identification across cameras), faces (watchlist only)"
    )


class RetentionRow(_Frozen):
    data_class: str = Field(description="the class of data")
    keep_s: float | None = Field(description="how long it is kept, seconds; null: to expiry")
    keep: str = Field(description="how long it is kept, in words")
    what: str = Field(description="what the class holds and where")


class MonthSearches(_Frozen):
    month: str = Field(description="calendar month, YYYY-MM (UTC)")
    by_category: dict[str, Count] = Field(
        description='searches per purpose category; "< 5" for 1 to 4'
    )


class MonthAlerts(_Frozen):
    month: str = Field(description="calendar month, YYYY-MM (UTC)")
    raised: Count = Field(description='watchlist alerts raised; "< 5" for 1 to 4')
    confirmed: Count = Field(description="alerts confirmed by two people")
    dismissed: Count = Field(description="alerts dismissed as wrong or not needed")


class ChainCheck(_Frozen):
    checked_at: float | None = Field(description="when the chain was last checked (Unix)")
    intact: bool | None = Field(description="whether it was intact then; null: never checked")
    entries_checked: int | None = Field(description="how many entries that check covered")


class Transparency(_Frozen):
    """The public page's data (``GET /api/transparency``)."""

    generated_at: float = Field(description="when these figures were computed (Unix)")
    min_count: int = Field(description="counts below this (and above 0) are not shown")
    suppressed_as: Literal["< 5"] = Field(description="what a count below min_count shows")
    counts_since: float | None = Field(
        description="the oldest audit entry still kept (Unix): the counts start there"
    )
    cameras: list[PublicCamera]
    retention: list[RetentionRow]
    search_actions: list[str] = Field(description="the audit actions counted as searches")
    purpose_categories: list[str] = Field(description="the kinds of purpose searches state")
    searches: list[MonthSearches] = Field(description="newest month first")
    watchlist_entries: Count = Field(description="face watchlist entries active now")
    alerts: list[MonthAlerts] = Field(description="newest month first")
    audit_check: ChainCheck


def period_text(seconds: float) -> str:
    """``3600`` -> ``"1 hour"``, ``172800`` -> ``"2 days"``, ``129600`` -> ``"36 hours"``."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'}"
    if seconds >= 60:
        return f"{round(seconds / 60, 1):g} minutes"
    return f"{seconds:g} seconds"


def retention_rows(policy: RetentionPolicy) -> list[RetentionRow]:
    """Each data class: how long the policy keeps it, and what and where it is (the
    policy's own field descriptions)."""
    rows = []
    for name in DATA_CLASSES:
        if name == "watchlist":
            row = RetentionRow(
                data_class=name, keep_s=None, keep="until expiry", what=WATCHLIST_TEXT
            )
            rows.append(row)
            continue
        seconds = policy.keep(name).total_seconds()
        what = RetentionPolicy.model_fields[name].description or name
        rows.append(
            RetentionRow(data_class=name, keep_s=seconds, keep=period_text(seconds), what=what)
        )
    return rows


def month_of(t: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(t))


def months(since: float | None, now: float, most: int = MAX_MONTHS) -> list[str]:
    """The calendar months from ``since``'s to ``now``'s, newest first, at most ``most``."""
    year, month = (int(p) for p in month_of(now).split("-"))
    first = month_of(since) if since is not None else month_of(now)
    out: list[str] = []
    while len(out) < most:
        label = f"{year:04d}-{month:02d}"
        out.append(label)
        if label <= first:
            break
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


def active_watchlist_entries(entries: Iterable[AuditEntry], now: float) -> int:
    """Watchlist entries added and neither removed, expired (recorded) nor past their
    expiry at ``now``, from the audit entries of the watchlist in chain order."""
    live: dict[tuple[str, str], float] = {}
    for e in sorted(entries, key=lambda e: e.seq):
        key = (str(e.details.get("watchlist_id")), str(e.details.get("entry_id")))
        if e.action == "watchlist.add":
            expires = e.details.get("expires_at")
            live[key] = float(expires) if isinstance(expires, int | float) else float("inf")
        elif e.action in ("watchlist.remove", "watchlist.expired"):
            live.pop(key, None)
    return sum(1 for expires in live.values() if expires > now)


def _searches(rows: Iterable[MonthlyCount], shown_months: list[str]) -> list[MonthSearches]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(PURPOSE_CATEGORIES, 0))
    for r in rows:
        if r.action in SEARCH_ACTIONS:
            category = r.value if r.value in PURPOSE_CATEGORIES else "other"
            counts[r.month][str(category)] += r.n
    empty = dict.fromkeys(PURPOSE_CATEGORIES, 0)
    return [
        MonthSearches(month=m, by_category={c: shown(n) for c, n in counts.get(m, empty).items()})
        for m in shown_months
    ]


def _alerts(rows: Iterable[MonthlyCount], shown_months: list[str]) -> list[MonthAlerts]:
    counts: dict[str, dict[str, int]] = defaultdict(
        lambda: {"raised": 0, "confirmed": 0, "dismissed": 0}
    )
    for r in rows:
        if r.action == "alert.raised":
            counts[r.month]["raised"] += r.n
        elif r.action == "alert.confirm" and r.value == "confirmed":
            counts[r.month]["confirmed"] += r.n
        elif r.action == "alert.dismiss":
            counts[r.month]["dismissed"] += r.n
    out = []
    for m in shown_months:
        c = counts.get(m, {"raised": 0, "confirmed": 0, "dismissed": 0})
        out.append(
            MonthAlerts(
                month=m,
                raised=shown(c["raised"]),
                confirmed=shown(c["confirmed"]),
                dismissed=shown(c["dismissed"]),
            )
        )
    return out


def _check(entry: AuditEntry | None) -> ChainCheck:
    if entry is None:
        return ChainCheck(checked_at=None, intact=None, entries_checked=None)
    checked = entry.details.get("checked")
    return ChainCheck(
        checked_at=entry.at,
        intact=entry.details.get("ok") is True,
        entries_checked=checked if isinstance(checked, int) else None,
    )


def build_transparency(
    cameras: Sequence[CameraConfig],
    policy: RetentionPolicy,
    searches: Iterable[MonthlyCount],
    alerts: Iterable[MonthlyCount],
    watchlist: Iterable[AuditEntry],
    last_check: AuditEntry | None,
    counts_since: float | None,
    now: float,
) -> Transparency:
    """The public page's data from its inputs (pure; see the module docstring).

    ``searches``: monthly counts of ``SEARCH_ACTIONS`` by ``category``; ``alerts``:
    monthly counts of ``ALERT_ACTIONS`` by ``state``; ``watchlist``: the watchlist's audit
    entries; ``last_check``: the newest ``audit.verified`` entry; ``counts_since``: when
    the oldest audit entry kept was made."""
    shown_months = months(counts_since, now)
    return Transparency(
        generated_at=now,
        min_count=MIN_COUNT,
        suppressed_as=SUPPRESSED,
        counts_since=counts_since,
        cameras=[
            PublicCamera(
                id=c.id,
                name=c.name,
                simulated=c.simulated,
                analytics=[a for a in ANALYTICS if getattr(c.analytics, a)],
            )
            for c in cameras
        ],
        retention=retention_rows(policy),
        search_actions=list(SEARCH_ACTIONS),
        purpose_categories=list(PURPOSE_CATEGORIES),
        searches=_searches(searches, shown_months),
        watchlist_entries=shown(active_watchlist_entries(watchlist, now)),
        alerts=_alerts(alerts, shown_months),
        audit_check=_check(last_check),
    )


def watchlist_entries(log: AuditLog) -> list[AuditEntry]:
    """The watchlist's audit entries: the one place the page's watchlist count comes
    from (see the module docstring)."""
    return log.entries(action=WATCHLIST_ACTIONS)


def from_log(
    log: AuditLog, cameras: Sequence[CameraConfig], policy: RetentionPolicy, now: float
) -> Transparency:
    """The page's data with its inputs read from ``log``."""
    return build_transparency(
        cameras,
        policy,
        log.monthly_counts(SEARCH_ACTIONS, "category"),
        log.monthly_counts(ALERT_ACTIONS, "state"),
        watchlist_entries(log),
        log.latest("audit.verified"),
        log.first_at(),
        now,
    )
