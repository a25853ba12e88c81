"""Per-case summaries folded from the audit log's per (case, actor, action) counts."""

from __future__ import annotations

from civicsight.audit import CaseActivity
from civicsight.audit_cases import summarise_cases


def test_one_summary_per_case_newest_first() -> None:
    """Guards the auditor's case panel: every user of a case listed once, searches and
    their results summed over users and kinds (track views are not searches), first and
    last time over every row, and the case worked on last shown first."""
    rows = [
        CaseActivity("C-1", "ines", "search.plates", 3, 100.0, 400.0, 12),
        CaseActivity("C-1", "omar", "search.biometric", 1, 50.0, 50.0, 2),
        CaseActivity("C-1", "ines", "track.view", 5, 120.0, 900.0, 0),
        CaseActivity("C-2", "omar", "search.tracks", 2, 1000.0, 1100.0, 40),
        CaseActivity("C-3", "ines", "watchlist.add", 1, 10.0, 10.0, 0),
    ]
    got = summarise_cases(rows, {"C-1": 4})
    assert [s.case_id for s in got] == ["C-2", "C-1", "C-3"]
    c1 = got[1]
    assert c1.users == ["ines", "omar"]
    assert c1.by_action == {"search.biometric": 1, "search.plates": 3, "track.view": 5}
    assert (c1.searches, c1.results, c1.tracks_opened) == (4, 14, 4)
    assert (c1.first_at, c1.last_at) == (50.0, 900.0)
    assert (got[2].searches, got[2].tracks_opened) == (0, 0)
    assert summarise_cases([]) == []
