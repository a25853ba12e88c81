"""The watchlist command: add from photos, list, remove, and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from civicsight.audit import AuditLog
from civicsight.services.faces.watchlist_cli import main
from tests.support import media_dir


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, model_mirror: Path, tmp_path: Path) -> None:
    monkeypatch.setenv("CIVICSIGHT_MODEL_MIRROR", str(model_mirror))
    monkeypatch.setenv("CIVICSIGHT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CIVICSIGHT_WATCHLIST_PATH", raising=False)


def add(entry: str, *photos: str, days: str = "30") -> list[str]:
    return [
        "add",
        "--watchlist",
        "missing",
        "--entry",
        entry,
        "--label",
        "Test Person",
        "--case",
        "2026/118",
        "--reason",
        "missing person report",
        "--added-by",
        "alice",
        "--days",
        days,
        *(str(media_dir() / "faces" / p) for p in photos),
    ]


def test_add_list_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Guards the whole operator path: the entry lands in DATA_DIR/watchlist.db with its
    reason, author and expiry, and removing it leaves nothing behind."""
    assert main(add("m-1", "train_obama_obama.jpg", "train_obama_obama2.jpg")) == 0
    assert "added missing/m-1 from 2 photos" in capsys.readouterr().out
    assert (tmp_path / "data" / "watchlist.db").is_file()
    assert main(["list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["entry_id"] == "m-1" and listed["embeddings"] == 2
    assert listed["case_id"] == "2026/118" and listed["added_by"] == "alice"
    assert listed["expires_at"] - listed["added_at"] == pytest.approx(30 * 86400)
    remove = ["remove", "--watchlist", "missing", "--entry", "m-1", "--removed-by", "bob"]
    assert main([*remove, "--reason", "found safe"]) == 0
    assert main(["list"]) == 0
    assert "is empty" in capsys.readouterr().out
    with AuditLog(tmp_path / "data") as audit:
        assert [(e.action, e.actor, e.role) for e in audit.entries()] == [
            ("watchlist.add", "alice", "local"),
            ("watchlist.remove", "bob", "local"),
        ]
        assert audit.entries(action="watchlist.remove")[0].details["reason"] == "found safe"


REFUSALS = {
    "group-photo": (("m-2", "test_obama_and_biden.jpg"), "30", 2, "faces; enrol from photos"),
    "too-long": (("m-2", "train_obama_obama.jpg"), "400", 2, "at most 365 days"),
    "name-as-id": (("Barack Obama", "train_obama_obama.jpg"), "30", 2, "entry_id"),
    "no-photo": (("m-2", "missing.jpg"), "30", 2, "no such file"),
    "remove-unknown": ((), "", 1, "not on the watchlist"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_are_clear(capsys: pytest.CaptureFixture[str], case: str) -> None:
    """Guards against a traceback, or a half-made entry, for a bad request."""
    what, days, code, problem = REFUSALS[case]
    argv = (
        add(what[0], *what[1:], days=days)
        if what
        else ["remove", "--watchlist", "missing", "--entry", "nobody", "--removed-by", "bob"]
    )
    assert main(argv) == code
    assert problem in capsys.readouterr().err
    assert main(["list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
