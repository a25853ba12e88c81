"""The auditor's API: the log filtered and paged, the chain check, per-case summaries; only
for the auditor, every read audited. Real SQLite stores and audit log, FastAPI's
TestClient, searches made through the API itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from civicsight.audit import AuditLog
from civicsight.audit_check import check_log
from civicsight.auth import Role, TokenStore
from civicsight.cameras import CameraConfig
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore

from .conftest import track_specs

TRACK = track_specs()[0].track_id


@pytest.fixture
def client(
    store: SqliteTrackStore, tokens: TokenStore, cameras: list[CameraConfig], trail: AuditLog
) -> Iterator[TestClient]:
    with TestClient(
        create_app(
            ApiState(store=store, tokens=tokens, audit=trail, cameras=CameraRegistry(cameras))
        )
    ) as c:
        yield c


def as_role(tokens: TokenStore, role: Role, label: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(role, label or f'{role.value} desk')}"}


def search(client: TestClient, who: dict[str, str], case: str, n: int = 1) -> None:
    why = {"case": case, "purpose": "stolen van report 4411", "category": "theft"}
    for _ in range(n):
        assert client.get("/api/tracks", params=why, headers=who).status_code == 200
    resp = client.get(f"/api/tracks/{TRACK}", params=why, headers=who)
    assert resp.status_code == 200


@pytest.fixture
def worked(client: TestClient, tokens: TokenStore) -> dict[str, str]:
    """Two investigators searched under two cases; returns the auditor's headers."""
    search(client, as_role(tokens, Role.INVESTIGATOR, "ines"), "C-2026-7", n=3)
    search(client, as_role(tokens, Role.INVESTIGATOR, "omar"), "C-2026-9", n=1)
    search(client, as_role(tokens, Role.INVESTIGATOR, "omar"), "C-2026-7", n=1)
    return as_role(tokens, Role.AUDITOR, "aud")


@pytest.mark.parametrize("path", ["/api/audit", "/api/audit/cases"])
@pytest.mark.parametrize("role", [*Role, None])
def test_only_the_auditor_reads_the_log(
    client: TestClient, tokens: TokenStore, role: Role | None, path: str
) -> None:
    """Guards the audit log reaching anyone but the auditor (an admin above all: the one
    who manages users must not also read what they did)."""
    headers = as_role(tokens, role) if role else {}
    status = client.get(path, headers=headers).status_code
    assert status == (200 if role is Role.AUDITOR else 403 if role else 401)


OMAR = [("omar", "search.tracks"), ("omar", "track.view")]  # one search and a look, per case


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"actor": "ines"}, [("ines", "search.tracks")] * 3 + [("ines", "track.view")]),
        ({"case": "C-2026-9"}, OMAR),
        ({"case": "C-2026-7", "actor": "omar"}, OMAR),
        ({"action": "track.view"}, [("ines", "track.view"), *[("omar", "track.view")] * 2]),
        ({"action": ["search.*"], "actor": "omar"}, [("omar", "search.tracks")] * 2),
        ({"case": "C-2026-1"}, []),
    ],
)
def test_filters(
    client: TestClient,
    worked: dict[str, str],
    query: dict[str, object],
    expected: list[tuple[str, str]],
) -> None:
    """Guards the auditor's filters (user, case, action and action family): each one
    narrows to exactly the matching entries, in chain order."""
    body = client.get("/api/audit", params=query, headers=worked).json()
    assert [(e["actor"], e["action"]) for e in body["entries"]] == expected


def test_newest_first_pages_neither_repeat_nor_skip(
    client: TestClient, worked: dict[str, str], trail: AuditLog
) -> None:
    """Guards paging through a long log: following 'next' newest first visits every entry
    exactly once, and the reads themselves (audited as they happen) do not shift it."""
    everything = [e.seq for e in reversed(trail.entries())]
    seen: list[int] = []
    cursor: int | None = None
    for _ in range(10):
        params: dict[str, object] = {"order": "newest", "limit": 3, "verify": "false"}
        if cursor is not None:
            params["cursor"] = cursor
        body = client.get("/api/audit", params=params, headers=worked).json()
        seen += [e["seq"] for e in body["entries"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == everything and len(seen) == 8


def test_the_chain_check_and_the_last_scheduled_one(
    client: TestClient, worked: dict[str, str], trail: AuditLog, tmp_path: Path
) -> None:
    """Guards the page's chain status: a full check by default (and none when asked not
    to, for the pages after the first), the last scheduled check with its result, and an
    edit shown as a problem at the right entry."""
    import sqlite3

    body = client.get("/api/audit", headers=worked).json()
    assert (body["intact"], body["problem"], body["scheduled"]) == (True, "", None)
    assert body["checked"] == 8
    check_log(trail, 1_900_000_000.0)
    body = client.get("/api/audit", params={"verify": "false"}, headers=worked).json()
    assert body["intact"] is None and body["checked"] is None
    assert body["scheduled"] == {"at": 1_900_000_000.0, "ok": True, "checked": 9, "problem": ""}
    db = sqlite3.connect(tmp_path / "audit.db")
    with db:
        db.execute("UPDATE entries SET details = '{}' WHERE seq = 2")
    db.close()
    body = client.get("/api/audit", headers=worked).json()
    assert body["intact"] is False and "edited" in body["problem"] and body["problem_seq"] == 2


def test_every_read_is_audited_with_its_filters(
    client: TestClient, worked: dict[str, str], trail: AuditLog
) -> None:
    """Guards the auditor's own reading going unrecorded."""
    client.get("/api/audit", params={"case": "C-2026-7", "action": "search.*"}, headers=worked)
    client.get("/api/audit/cases", params={"case": "C-2026-7"}, headers=worked)
    reads = trail.entries(action="audit.read")
    assert [(e.actor, e.role) for e in reads] == [("aud", "auditor")] * 2
    assert reads[0].details == {
        "case": "C-2026-7",
        "action": ["search.biometric", "search.image", "search.plates", "search.tracks"],
        "order": "oldest",
        "verify": True,
    }
    assert reads[1].details == {"view": "cases", "case": "C-2026-7"}


@pytest.mark.parametrize(
    ("path", "params", "detail"),
    [
        ("/api/audit", {"action": "nope"}, "unknown action"),
        ("/api/audit", {"action": "nope.*"}, "unknown action"),
        ("/api/audit", {"actor": "cs_" + "A" * 30}, "actor"),
        ("/api/audit", {"actor": "ines\n"}, "actor"),
        ("/api/audit", {"case": "C-1\n"}, "case"),
        ("/api/audit", {"since": 200, "until": 100}, "since"),
        ("/api/audit", {"cursor": -1}, "cursor"),
        ("/api/audit", {"order": "random"}, "order"),
        ("/api/audit/cases", {"since": "inf"}, "since"),
        ("/api/audit/cases", {"case": "../x"}, "case"),
    ],
)
def test_bad_filters_are_400(
    client: TestClient, tokens: TokenStore, path: str, params: dict[str, object], detail: str
) -> None:
    """Guards filters that could not be logged (a token-like user name would make the
    read's own audit entry fail after the log was read) or that mean nothing."""
    resp = client.get(path, params=params, headers=as_role(tokens, Role.AUDITOR))
    assert resp.status_code == 400 and detail in resp.json()["detail"], resp.text


def test_case_summaries(client: TestClient, worked: dict[str, str]) -> None:
    """Guards the per-case panel: who worked on each case, how many searches and what
    they returned, tracks opened, newest first."""
    body = client.get("/api/audit/cases", headers=worked).json()
    assert body["total"] == 2
    latest, other = body["cases"]
    assert latest["case_id"] == "C-2026-7" and other["case_id"] == "C-2026-9"
    assert latest["users"] == ["ines", "omar"]
    assert latest["by_action"] == {"search.tracks": 4, "track.view": 2}
    assert latest["searches"] == 4 and latest["tracks_opened"] == 1
    assert latest["results"] == 4 * len(track_specs())  # every search listed all tracks
    assert latest["first_at"] <= other["first_at"] <= other["last_at"] <= latest["last_at"]
    one = client.get("/api/audit/cases", params={"case": "C-2026-9"}, headers=worked).json()
    assert [c["case_id"] for c in one["cases"]] == ["C-2026-9"]


def test_the_audit_page_offers_every_action() -> None:
    """Guards the page's action filter drifting from the log's actions: an action added
    to civicsight/audit.py that the auditor cannot pick, or a name the API refuses."""
    from civicsight.audit import ACTIONS
    from civicsight.services.api.state import STATIC_DIR

    source = (STATIC_DIR / "js" / "pages" / "audit.js").read_text()
    block = source[
        source.index("ACTION_GROUPS = [") : source.index("];", source.index("ACTION_GROUPS"))
    ]
    names = re.findall(r'"([a-z_]+(?:\.[a-z_]+)?)"', block)  # group titles are capitalised
    assert sorted(names) == sorted(ACTIONS) and len(names) == len(set(names))
