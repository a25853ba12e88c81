"""`civicsight privacy report`: cameras and why faces run, retention, active watchlist
entries (never names), alerts, and who searched what."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog, BiometricSearch
from civicsight.events import FaceObservation
from civicsight.tools.privacy_report import main
from civicsight.watchlist import DAY_S, WatchlistEntry, WatchlistStore

NOW = time.time()  # the report looks at the real clock


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cams = tmp_path / "cameras"
    cams.mkdir()
    (cams / "gate.yaml").write_text(
        "id: gate\nname: Main gate\nsource: rtsp://viewer:hunter2@10.0.0.5/s\n"
        "analytics:\n  plates: true\n  faces: true\n"
        "  faces_purpose: find missing persons reported to the police\n"
        "  faces_legal_basis: court order 2026/118\n"
    )
    (cams / "lobby.yaml").write_text("id: lobby\nname: Lobby\nsource: rtsp://10.0.0.6/s\n")
    data = tmp_path / "data"
    with AuditLog(data) as audit:
        wl = WatchlistStore(data / "watchlist.db", audit)
        wl.open()
        for entry_id, days, added in (("m-1", 30, None), ("m-old", 1, NOW - 10 * DAY_S)):
            at = added or NOW - DAY_S
            wl.add(
                WatchlistEntry(watchlist_id="missing", entry_id=entry_id, label="Jane Roe",
                               case_id="2026/118", reason="missing person report",
                               added_by="alice", added_at=at, expires_at=at + days * DAY_S),
                np.zeros((1, 128), np.float32),
                role="investigator",
            )  # fmt: skip
        wl.close()
        alerts = AlertStore(data / "alerts.db", audit)
        alerts.open()
        alerts.record_match(
            FaceObservation(camera_id="gate", track_id=1, captured_at=NOW - 60,
                            watchlist_id="missing", entry_id="m-1", score=0.4, threshold=0.5)
        )  # fmt: skip
        alerts.close()
        audit.append("bob", "investigator", "search.tracks",
                     {"case_id": "2026/7", "purpose": "stolen bike", "results": 3})  # fmt: skip
        audit.append("bob", "investigator", "export", {"case_id": "2026/7", "tracks": 1})
        audit.append_biometric_search(
            "alice",
            "investigator",
            BiometricSearch(case_id="2026/118", purpose="missing person", input_sha256="a" * 64,
                            reference_lists=("missing",), started_at=NOW, ended_at=NOW + 1,
                            matches=("m-1",)),
        )  # fmt: skip
    monkeypatch.setenv("CIVICSIGHT_DATA_DIR", str(data))
    monkeypatch.setenv("CIVICSIGHT_CAMERAS_DIR", str(cams))
    monkeypatch.delenv("CIVICSIGHT_WATCHLIST_PATH", raising=False)
    monkeypatch.delenv("CIVICSIGHT_RETENTION_FILE", raising=False)
    return data


def test_json_report(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Guards the DPIA input: every fact present, nothing secret or identifying shown."""
    assert main(["--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)
    cams = {c["id"]: c for c in report["cameras"]}
    assert cams["gate"]["analytics"] == ["detect", "plates", "faces"]
    assert cams["gate"]["faces_legal_basis"] == "court order 2026/118"
    assert cams["lobby"]["faces_purpose"] is None
    assert report["retention"]["audit"]["keep"] == "365 d"
    assert report["topics"]["plate_reads"]["data_class"] == "plates_non_hit"
    assert [w["entry_id"] for w in report["watchlists"]] == ["m-1"]  # m-old has expired
    assert report["watchlists"][0]["case_id"] == "2026/118"
    assert report["alerts"] == {"new": 1}
    s = report["searches"]
    assert s["total"] == 3 and s["by_case"] == {"2026/118": 1, "2026/7": 2}
    assert [(u["actor"], u["action"], u["count"]) for u in s["by_user"]] == [
        ("alice", "search.biometric", 1), ("bob", "export", 1), ("bob", "search.tracks", 1)
    ]  # fmt: skip
    assert s["biometric"][0]["reference_lists"] == ["missing"]
    assert "hunter2" not in out and "Jane Roe" not in out


def test_text_report(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    for line in (
        "gate (Main gate): detect, plates, faces",
        "legal basis: court order 2026/118",
        "lobby (Lobby): detect",
        "plates_non_hit: 2 d",
        "missing/m-1 case 2026/118, added by alice",
        "bob (investigator): search.tracks x1",
        "biometric",
    ):
        assert line in out, out
    assert "hunter2" not in out and "Jane Roe" not in out
