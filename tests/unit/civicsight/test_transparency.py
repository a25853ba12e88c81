"""The public transparency page's figures: suppression of small counts, months, what
counts as a search, watchlist and alert counts, the last chain check, and above all that
no case, user, plate, track, label or camera secret ever reaches them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from civicsight.audit import PURPOSE_CATEGORIES, AuditEntry, AuditLog, MonthlyCount
from civicsight.cameras import Analytics, CameraConfig
from civicsight.retention import DEFAULT_POLICY, RetentionPolicy
from civicsight.transparency import (
    SUPPRESSED,
    active_watchlist_entries,
    build_transparency,
    from_log,
    months,
    shown,
)

MARCH = 1_772_323_200.0  # 2026-03-01T00:00:00Z
APRIL = 1_775_001_600.0  # 2026-04-01T00:00:00Z
NOW = APRIL + 10 * 86400

CASE, USER, PLATE, TRACK = "C-PLANTED-4411", "ines.planted", "AB123CD", "g-5eed5eed5eed"
LABEL, SECRET = "Jane Planted", "hunter2planted"
IDENTIFIERS = (CASE, USER, PLATE, TRACK, LABEL, SECRET, "court order")


def entry(seq: int, action: str, details: dict[str, object], at: float = MARCH) -> AuditEntry:
    return AuditEntry(
        seq=seq, at=at, actor=USER, role="investigator", action=action, details=details,
        prev="0" * 64, mac="0" * 64,
    )  # fmt: skip


def planted_cameras() -> list[CameraConfig]:
    return [
        CameraConfig(
            id="gate",
            name="North gate",
            source=f"rtsp://admin:{SECRET}@10.0.0.5:554/s?token={SECRET}",
            analytics=Analytics(
                plates=True,
                faces=True,
                faces_purpose=f"find {LABEL}, missing since Monday",
                faces_legal_basis=f"court order {CASE}",
            ),
        ),
        CameraConfig(id="yard", name="Yard", source="media:yard.mp4", simulated=True),
    ]


@pytest.mark.parametrize(
    ("n", "published"), [(0, 0), (1, SUPPRESSED), (4, SUPPRESSED), (5, 5), (1234, 1234)]
)
def test_counts_below_five_are_suppressed(n: int, published: object) -> None:
    """Guards the one rule of every published count: 1 to 4 read "< 5" (zero, like
    everywhere in the hub, is published: nothing happened)."""
    assert shown(n) == published


def test_no_identifier_reaches_the_page() -> None:
    """Guards the page leaking what it must never show: a case id, a user name, a plate, a
    track id, a watchlist label or reason, a camera's credentials, or a face purpose and
    legal basis that name a case or a person. They are planted in every input, including
    a purpose category the page does not know."""
    searches = [
        MonthlyCount("2026-03", "search.plates", PLATE, 7),
        MonthlyCount("2026-03", "search.tracks", CASE, 2),
        MonthlyCount("2026-03", "search.image", "theft", 6),
    ]
    alerts = [MonthlyCount("2026-03", "alert.confirm", TRACK, 9)]
    watchlist = [
        entry(1, "watchlist.add", {"watchlist_id": "missing", "entry_id": "e-1",
              "case_id": CASE, "reason": LABEL, "expires_at": NOW + 86400}),
    ]  # fmt: skip
    check = entry(2, "audit.verified", {"ok": True, "checked": 41, "problem": CASE})
    page = build_transparency(
        planted_cameras(), DEFAULT_POLICY, searches, alerts, watchlist, check, MARCH, NOW
    )
    text = json.dumps(page.model_dump(mode="json"))
    for planted in IDENTIFIERS:
        assert planted not in text, planted
    march = next(m for m in page.searches if m.month == "2026-03")
    assert march.by_category["other"] == 9  # the unknown categories count as other
    assert march.by_category["theft"] == 6
    assert page.cameras[0].analytics == ["detect", "plates", "faces"]


def test_searches_per_month_by_category() -> None:
    """Guards what counts as a search (search.* only: track views and thumbnails are not
    searches), the month rows (newest first, empty months included) and suppression per
    cell."""
    rows = [
        MonthlyCount("2026-03", "search.tracks", "theft", 4),
        MonthlyCount("2026-03", "search.plates", "theft", 3),
        MonthlyCount("2026-03", "search.biometric", "missing_person", 2),
        MonthlyCount("2026-03", "track.view", "theft", 50),
        MonthlyCount("2026-03", "thumbnail.view", "violence", 50),
        MonthlyCount("2026-04", "search.image", None, 1),
        MonthlyCount("2026-02", "search.tracks", "theft", 99),  # before the page's months
    ]
    page = build_transparency([], DEFAULT_POLICY, rows, [], [], None, MARCH + 5, NOW)
    assert [m.month for m in page.searches] == ["2026-04", "2026-03"]
    april, march = page.searches
    assert list(march.by_category) == list(PURPOSE_CATEGORIES)
    assert march.by_category == {
        "missing_person": SUPPRESSED, "theft": 7, "violence": 0,
        "traffic_collision": 0, "public_safety": 0, "other": 0,
    }  # fmt: skip
    assert april.by_category["other"] == SUPPRESSED
    assert page.search_actions == [
        "search.tracks", "search.plates", "search.image", "search.biometric",
    ]  # fmt: skip


def test_alerts_per_month() -> None:
    """Guards a first confirmation (state still new) counted as a confirmed alert."""
    rows = [
        MonthlyCount("2026-04", "alert.raised", None, 12),
        MonthlyCount("2026-04", "alert.confirm", "new", 8),
        MonthlyCount("2026-04", "alert.confirm", "confirmed", 6),
        MonthlyCount("2026-04", "alert.dismiss", "dismissed", 2),
    ]
    page = build_transparency([], DEFAULT_POLICY, [], rows, [], None, APRIL, NOW)
    (april,) = page.alerts
    assert (april.raised, april.confirmed, april.dismissed) == (12, 6, SUPPRESSED)


def test_active_watchlist_entries() -> None:
    """Guards the watchlist count: removed, recorded-expired and past-expiry entries are
    not active; an entry added again after removal is."""
    day = 86400.0

    def wl(seq: int, action: str, entry_id: str, expires: float | None = None) -> AuditEntry:
        details: dict[str, object] = {"watchlist_id": "w", "entry_id": entry_id}
        return entry(seq, action, details | ({"expires_at": expires} if expires else {}))

    entries = [
        wl(1, "watchlist.add", "a", NOW + day),
        wl(2, "watchlist.add", "b", NOW + day),
        wl(3, "watchlist.add", "c", NOW - day),  # expired, not purged yet
        wl(4, "watchlist.add", "d", NOW + day),
        wl(5, "watchlist.remove", "b"),
        wl(6, "watchlist.expired", "d"),
        wl(7, "watchlist.remove", "a"),
        wl(8, "watchlist.add", "a", NOW + 2 * day),
        wl(9, "watchlist.add", "e", NOW + day),
    ]
    assert active_watchlist_entries(reversed(entries), NOW) == 2  # a (again) and e
    page = build_transparency([], DEFAULT_POLICY, [], [], entries, None, None, NOW)
    assert page.watchlist_entries == SUPPRESSED


def test_retention_and_the_last_check() -> None:
    """Guards the page showing the defaults when the site changed them, and a check that
    found a problem shown as intact."""
    policy = RetentionPolicy.model_validate({"plates_non_hit": "1d", "tracks": "36h"})
    check = entry(3, "audit.verified", {"ok": False, "checked": 9, "problem": "x"}, at=APRIL)
    page = build_transparency([], policy, [], [], [], check, None, NOW)
    keep = {r.data_class: (r.keep_s, r.keep) for r in page.retention}
    assert keep["plates_non_hit"] == (86400.0, "1 day")
    assert keep["tracks"] == (129600.0, "36 hours")
    assert keep["watchlist"] == (None, "until expiry")
    assert keep["audit"] == (365 * 86400.0, "365 days")
    c = page.audit_check
    assert (c.checked_at, c.intact, c.entries_checked) == (APRIL, False, 9)
    never = build_transparency([], policy, [], [], [], None, None, NOW).audit_check
    assert (never.checked_at, never.intact) == (None, None)


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (None, ["2026-04"]),
        (APRIL, ["2026-04"]),
        (MARCH - 1, ["2026-04", "2026-03", "2026-02"]),
        (MARCH - 400 * 86400, 16),  # 2025-01 to 2026-04
        (MARCH - 1000 * 86400, 24),  # at most two years
    ],
)
def test_months(since: float | None, expected: list[str] | int) -> None:
    got = months(since, NOW)
    assert got == expected if isinstance(expected, list) else len(got) == expected


def test_from_the_audit_log(tmp_path: Path) -> None:
    """Guards the figures read from a real audit log: searches by category, a watchlist
    entry, alerts, the last check, and none of the planted identifiers."""
    with AuditLog(tmp_path) as log:
        why = {"case_id": CASE, "purpose": f"plate {PLATE} seen", "category": "theft"}
        for i in range(6):
            log.append(USER, "investigator", "search.plates", {**why, "results": [TRACK]},
                       at=MARCH + i)  # fmt: skip
        log.append(USER, "investigator", "track.view", {**why, "track": TRACK}, at=MARCH + 9)
        details = {"watchlist_id": "w", "entry_id": "e-1", "case_id": CASE, "reason": LABEL}
        log.append(USER, "investigator", "watchlist.add", {**details, "expires_at": NOW + 9})
        log.append("system", "system", "alert.raised", {"alert_id": "a1", "track_id": TRACK})
        log.append("system", "system", "audit.verified", {"ok": True, "checked": 9}, at=APRIL)
        page = from_log(log, planted_cameras(), DEFAULT_POLICY, NOW)
    march = next(m for m in page.searches if m.month == "2026-03")
    assert march.by_category["theft"] == 6
    assert page.watchlist_entries == SUPPRESSED
    assert page.counts_since == MARCH and page.audit_check.checked_at == APRIL
    text = json.dumps(page.model_dump(mode="json"))
    for planted in IDENTIFIERS:
        assert planted not in text, planted
