"""The scheduled audit-chain check: each result recorded in the log itself, a broken chain
recorded as broken, and the check runs at once when the hub starts."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from civicsight.audit import AuditLog
from civicsight.audit_check import check_every, check_once

T0 = 1_800_000_000.0


def test_a_check_is_recorded_with_its_result(tmp_path: Path) -> None:
    """Guards a check that leaves no trace (the transparency page would show none) or
    records a broken chain as intact."""
    with AuditLog(tmp_path) as log:
        for i in range(3):
            log.append("ines", "investigator", "search.tracks", {"i": i}, at=T0 + i)
    result = check_once(tmp_path, T0 + 10)
    assert result.ok and result.checked == 3
    db = sqlite3.connect(tmp_path / "audit.db")
    with db:
        db.execute("UPDATE entries SET actor = 'mallory' WHERE seq = 2")
    db.close()
    broken = check_once(tmp_path, T0 + 20)
    assert not broken.ok and broken.seq == 2
    with AuditLog(tmp_path) as log:
        checks = log.entries(action="audit.verified")
    assert [(e.actor, e.at, e.details) for e in checks] == [
        ("system", T0 + 10, {"ok": True, "checked": 3, "problem": ""}),
        (
            "system",
            T0 + 20,
            {"ok": False, "checked": 1, "problem": "entry edited (MAC does not match)", "seq": 2},
        ),
    ]


def test_the_periodic_check_runs_at_start_and_stops(tmp_path: Path) -> None:
    """Guards a schedule whose first check waits a whole day after the hub starts."""
    stop = threading.Event()
    thread = check_every(tmp_path, 3600, stop)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with AuditLog(tmp_path) as log:
            if log.latest("audit.verified") is not None:
                break
        time.sleep(0.05)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    with AuditLog(tmp_path) as log:
        assert len(log.entries(action="audit.verified")) == 1
