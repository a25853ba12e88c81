"""`civicsight retention run --now`: with a moved clock, exactly what has expired goes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.events import FaceObservation

REPO = Path(__file__).resolve().parents[3]
DAY = 86400.0
NOW = 1_800_000_000.0


def observation(track: int, at: float) -> FaceObservation:
    return FaceObservation(
        camera_id="gate",
        track_id=track,
        captured_at=at,
        watchlist_id="missing",
        entry_id="m-1",
        score=0.5,
        threshold=0.5,
    )


def seed(data: Path) -> None:
    """Audit entries 366 and 364 days old; alerts last seen 91 and 89 days ago."""
    with AuditLog(data) as audit:
        audit.append("alice", "admin", "setting.change", {"n": "old"}, at=NOW - 366 * DAY)
        audit.append("alice", "admin", "setting.change", {"n": "kept"}, at=NOW - 364 * DAY)
        alerts = AlertStore(data / "alerts.db", audit)
        alerts.open()
        alerts.record_match(observation(1, NOW - 91 * DAY))
        alerts.record_match(observation(2, NOW - 89 * DAY))
        alerts.close()


def retention(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicsight", "retention", "run", "--json", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "CIVICSIGHT_DATA_DIR": str(data)},
    )


@pytest.mark.parametrize(
    ("now", "audit_left", "alerts_left"),
    [
        (NOW - 30 * DAY, ["old", "kept"], [1, 2]),
        (NOW, ["kept"], [2]),
        (NOW + 1.5 * DAY, [], []),
    ],
    ids=["nothing-expired", "oldest-of-each-expired", "all-expired"],
)
def test_a_moved_clock_deletes_exactly_what_has_expired(
    tmp_path: Path, now: float, audit_left: list[str], alerts_left: list[int]
) -> None:
    """Guards retention against deleting too much or too little (audit: 365 d, alerts:
    90 d), and the audit chain against breaking when its oldest entries go."""
    seed(tmp_path)
    proc = retention(tmp_path, "--now", str(now))
    assert proc.returncode == 0, proc.stderr
    counts = {p["data_class"]: p["deleted"] for p in json.loads(proc.stdout)}
    assert counts == {"audit": 2 - len(audit_left), "alerts": 2 - len(alerts_left)}
    with AuditLog(tmp_path) as audit:
        entries = audit.entries()
        changes = [e.details["n"] for e in entries if e.action == "setting.change"]
        assert changes == audit_left
        assert audit.verify().ok, audit.verify()
        run_entry = entries[-1]
        assert run_entry.action == "retention.run" and run_entry.at == now
        alerts = AlertStore(tmp_path / "alerts.db", audit)
        alerts.open()
        assert [a.track_id for a in alerts.alerts()] == alerts_left
        alerts.close()


def test_a_policy_that_keeps_the_audit_log_too_short_is_refused(tmp_path: Path) -> None:
    policy = tmp_path / "retention.yaml"
    policy.write_text("audit: 90d\n")
    proc = subprocess.run(
        [sys.executable, "-m", "civicsight", "retention", "run"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "CIVICSIGHT_DATA_DIR": str(tmp_path),
             "CIVICSIGHT_RETENTION_FILE": str(policy)},
    )  # fmt: skip
    assert proc.returncode == 2 and "at least 183 days" in proc.stderr
