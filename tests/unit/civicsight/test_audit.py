"""The audit log: hash chain, head anchor, retention purge, refusals, and many writers."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from civicsight.audit import (
    GENESIS,
    AuditError,
    AuditLog,
    BiometricSearch,
    input_digest,
)

T0 = 1_700_000_000.0


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[AuditLog]:
    with AuditLog(tmp_path) as log:
        yield log


def fill(log: AuditLog, n: int, start: float = T0, step: float = 60.0) -> None:
    for i in range(n):
        log.append("alice", "investigator", "search.tracks", {"i": i}, at=start + i * step)


def raw(log: AuditLog, sql: str, *args: object) -> None:
    """What an attacker with write access to audit.db (but not the key) can do."""
    db = sqlite3.connect(log.path)
    with db:
        db.execute(sql, args)
    db.close()


def test_a_fresh_chain_verifies_and_links(audit: AuditLog) -> None:
    fill(audit, 3)
    entries = audit.entries()
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev == GENESIS
    assert [e.prev for e in entries[1:]] == [e.mac for e in entries[:-1]]
    result = audit.verify()
    assert result.ok and result.checked == 3, result


def test_an_empty_log_verifies(audit: AuditLog) -> None:
    assert audit.verify().ok


TAMPER: dict[str, tuple[Callable[[AuditLog], None], int, str]] = {
    "edited-details": (
        lambda a: raw(a, "UPDATE entries SET details = ? WHERE seq = 3", '{"i":99}'),
        3,
        "edited",
    ),
    "edited-actor": (
        lambda a: raw(a, "UPDATE entries SET actor = 'bob' WHERE seq = 2"),
        2,
        "edited",
    ),
    "edited-time": (lambda a: raw(a, "UPDATE entries SET at = at + 1 WHERE seq = 4"), 4, "edited"),
    "deleted-middle": (lambda a: raw(a, "DELETE FROM entries WHERE seq = 3"), 3, "deleted"),
    "deleted-last": (lambda a: raw(a, "DELETE FROM entries WHERE seq = 5"), 5, "newest entries"),
    "deleted-last-two": (lambda a: raw(a, "DELETE FROM entries WHERE seq >= 4"), 4, "newest"),
    "deleted-first": (
        lambda a: raw(a, "DELETE FROM entries WHERE seq = 1"),
        1,
        "without a recorded",
    ),
    "deleted-all": (lambda a: raw(a, "DELETE FROM entries"), 5, "empty"),
    "head-removed": (lambda a: a.head_path.unlink(), 5, "head anchor file missing"),
    "rechained-without-key": (
        lambda a: raw(
            a,
            "UPDATE entries SET details = ?, mac = ? WHERE seq = 5",
            '{"i":99}',
            "f" * 64,
        ),
        5,
        "edited",
    ),
}


@pytest.mark.parametrize("case", list(TAMPER))
def test_verify_names_the_tampered_entry(audit: AuditLog, case: str) -> None:
    """Guards against an edited, deleted (middle, first, newest) or re-MACed entry going
    unnoticed by `audit verify`."""
    fill(audit, 5)
    tamper, seq, problem = TAMPER[case]
    tamper(audit)
    result = audit.verify()
    assert not result.ok
    assert result.seq == seq and problem in result.problem, result


def test_an_append_after_deleting_the_newest_keeps_the_gap(audit: AuditLog) -> None:
    """Guards against a truncation being hidden by the next append re-anchoring the head."""
    fill(audit, 4)
    raw(audit, "DELETE FROM entries WHERE seq = 4")
    audit.append("bob", "admin", "setting.change", {"name": "x"})
    result = audit.verify()
    assert not result.ok and result.seq == 4 and "deleted" in result.problem


def test_a_key_from_another_hub_does_not_verify(tmp_path: Path) -> None:
    """Guards against a chain rebuilt with any other key (the key stays out of the DB)."""
    with AuditLog(tmp_path) as log:
        fill(log, 2)
    tmp_path.joinpath("audit.key").write_bytes(b"k" * 32)
    with AuditLog(tmp_path) as log:
        assert not log.verify().ok


def test_key_head_and_db_are_owner_only(audit: AuditLog) -> None:
    fill(audit, 1)
    for path in (audit.key_path, audit.head_path, audit.path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.parametrize(
    ("before", "deleted", "first_kept"),
    [(T0, 0, 1), (T0 + 1, 1, 2), (T0 + 150, 3, 4), (T0 + 10_000, 5, None)],
    ids=["nothing-old", "one", "three", "all"],
)
def test_retention_purge_keeps_the_chain_verifiable(
    audit: AuditLog, before: float, deleted: int, first_kept: int | None
) -> None:
    """Guards against retention either breaking `verify` or deleting recent entries; the
    purge itself is recorded in the chain."""
    fill(audit, 5)  # at T0, +60, +120, +180, +240
    assert audit.purge("audit", before, at=T0 + 20_000) == deleted
    entries = audit.entries()
    kept = [e.seq for e in entries if e.action == "search.tracks"]
    assert kept == ([] if first_kept is None else list(range(first_kept, 6)))
    purges = [e for e in entries if e.action == "audit.purged"]
    assert len(purges) == (1 if deleted else 0)
    if deleted:
        assert purges[0].details["deleted"] == deleted
    assert audit.verify().ok, audit.verify()
    fill(audit, 2, start=T0 + 30_000)
    assert audit.purge("audit", T0 + 30_000 + 61, at=T0 + 40_000) > 0  # a second purge
    assert audit.verify().ok, audit.verify()


def test_deleting_more_than_the_purge_recorded_is_detected(audit: AuditLog) -> None:
    fill(audit, 5)
    audit.purge("audit", T0 + 61)  # deletes #1, #2
    raw(audit, "DELETE FROM entries WHERE seq = 3")
    result = audit.verify()
    assert not result.ok and "without a recorded purge" in result.problem


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("alice", "investigator", "search.trakcs", {}), "unknown action"),
        (("alice", "investigator", "search.biometric", {}), "own method"),
        (("alice", "investigator", "audit.purged", {}), "own method"),
        (("", "investigator", "login", {}), "actor"),
        (("al\nice", "investigator", "login", {}), "actor"),
        (("alice", "Investigator!", "login", {}), "role"),
        (("alice", "admin", "login", {"password": "hunter2"}), "never logged"),
        (("alice", "admin", "login", {"x": {"Token": "a"}}), "never logged"),
        (("alice", "admin", "search.tracks", {"q": ["cs_" + "a" * 40]}), "API token"),
        (("alice", "admin", "search.tracks", {"embedding": [0.1, 0.2]}), "biometric"),
        (("alice", "admin", "search.tracks", {"x": object()}), "plain JSON"),
        (("alice", "admin", "search.tracks", {"x": "y" * 20_000}), "bytes"),
    ],
    ids=["typo-action", "biometric-direct", "purge-direct", "no-actor", "newline-actor",
         "bad-role", "password", "nested-token-key", "token-value", "embedding", "not-json",
         "too-big"],
)  # fmt: skip
def test_bad_entries_are_refused(
    audit: AuditLog, args: tuple[str, str, str, dict[str, object]], problem: str
) -> None:
    """Guards against secrets, embeddings or unknown actions landing in the audit log."""
    with pytest.raises(AuditError, match=problem):
        audit.append(*args)
    assert audit.entries() == []


def test_biometric_search_records_what_art_12_3_asks(audit: AuditLog) -> None:
    """Guards the EU AI Act Art. 12(3) record: who, when, case, purpose, input, references."""
    probe = b"\xff\xd8 probe jpeg"
    search = BiometricSearch(
        case_id="2026/118",
        purpose="missing person report",
        input_sha256=input_digest(probe),
        reference_lists=("missing",),
        started_at=T0,
        ended_at=T0 + 2,
        matches=("m-0042",),
    )
    entry = audit.append_biometric_search("alice", "investigator", search, at=T0 + 2)
    (stored,) = audit.entries(action="search.biometric")
    assert stored == entry and stored.actor == "alice" and stored.at == T0 + 2
    assert BiometricSearch.model_validate(stored.details) == search
    assert probe not in audit.path.read_bytes()
    assert audit.verify().ok


@pytest.mark.parametrize(
    "over",
    [
        {"case_id": ""},
        {"case_id": "case 1; DROP"},
        {"purpose": "  "},
        {"input_sha256": "abc"},
        {"reference_lists": ()},
        {"ended_at": T0 - 1},
        {"race": "x"},
    ],
    ids=["no-case", "bad-case", "blank-purpose", "bad-digest", "no-reference", "time", "extra"],
)
def test_biometric_search_record_is_validated(over: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "case_id": "2026/118",
        "purpose": "missing person report",
        "input_sha256": "0" * 64,
        "reference_lists": ("missing",),
        "started_at": T0,
        "ended_at": T0 + 1,
        **over,
    }
    with pytest.raises(ValidationError):
        BiometricSearch.model_validate(fields)


def test_entries_since_and_by_action(audit: AuditLog) -> None:
    fill(audit, 3)
    audit.append("bob", "admin", "setting.change", {"name": "x"}, at=T0 + 500)
    assert [e.seq for e in audit.entries(since=T0 + 60)] == [2, 3, 4]
    assert [e.actor for e in audit.entries(action="setting.change")] == ["bob"]


def _writer(data_dir: str, who: str, n: int) -> None:
    with AuditLog(Path(data_dir)) as log:
        for i in range(n):
            log.append(who, "system", "setting.change", {"i": i})


def test_appends_from_many_processes_form_one_chain(tmp_path: Path) -> None:
    """Guards against two processes (API, faces service, CLI) forking the chain."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), f"p{k}", 25)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with AuditLog(tmp_path) as log:
        assert len(log.entries()) == 100
        assert log.verify().ok, log.verify()
        assert json.loads(log.head_path.read_text())["seq"] == 100


# ---- the auditor's filters, paging and counts (issue 10) --------------------------------


BUSY: list[tuple[str, str, str | None, dict[str, object]]] = [  # actor, action, case, more
    ("ines", "search.plates", "C-1", {"results": ["t-1", "t-2", "t-3"]}),
    ("ines", "track.view", "C-1", {"track": "t-1"}),
    ("omar", "search.tracks", "C-2", {"results": ["t-9"]}),
    ("root", "token.issue", None, {"token_id": "ab" * 8}),
    ("ines", "thumbnail.view", "C-1", {"track": "t-1"}),
    ("ines", "track.view", "C-1", {"track": "t-2"}),
    ("omar", "search.plates", "C-1", {"results": []}),
]


def busy_log(log: AuditLog) -> None:
    """Two investigators on two cases and an unrelated entry, a minute apart (``BUSY``)."""
    for i, (actor, action, case, more) in enumerate(BUSY):
        why = {"case_id": case, "purpose": "stolen van report", "category": "theft"}
        details = {**why, **more} if case else more
        log.append(actor, "investigator", action, details, at=T0 + 60 * i)


@pytest.mark.parametrize(
    ("query", "seqs"),
    [
        ({}, [1, 2, 3, 4, 5, 6, 7]),
        ({"actor": "ines"}, [1, 2, 5, 6]),
        ({"case": "C-1"}, [1, 2, 5, 6, 7]),
        ({"case": "C-1", "actor": "omar"}, [7]),
        ({"action": "search.plates"}, [1, 7]),
        ({"action": {"search.plates", "search.tracks"}}, [1, 3, 7]),
        ({"action": set()}, []),
        ({"since": T0 + 100, "until": T0 + 300}, [3, 4, 5, 6]),
        ({"newest_first": True, "limit": 3}, [7, 6, 5]),
        ({"newest_first": True, "cursor": 5, "limit": 3}, [4, 3, 2]),
        ({"cursor": 5}, [6, 7]),
        ({"case": "C-1", "newest_first": True, "cursor": 6}, [5, 2, 1]),
        ({"case": "C-3"}, []),
    ],
)
def test_entries_filter_and_page_in_sql(
    audit: AuditLog, query: dict[str, object], seqs: list[int]
) -> None:
    """Guards the auditor's filters: a case matches details.case_id only, filters combine,
    and a page after a cursor neither repeats nor skips an entry, in either order."""
    busy_log(audit)
    assert [e.seq for e in audit.entries(**query)] == seqs  # type: ignore[arg-type]


def test_filters_use_indexes_not_a_scan(audit: AuditLog) -> None:
    """Guards a year-long log read by scanning every row for each filter of the page."""
    for where in ("action = 'x'", "actor = 'x'", "json_extract(details, '$.case_id') = 'x'"):
        plan = audit.db.execute(
            f"EXPLAIN QUERY PLAN SELECT * FROM entries WHERE {where} ORDER BY seq DESC"
        ).fetchall()
        assert "USING INDEX" in str(plan), (where, plan)


def test_a_log_from_before_the_indexes_is_upgraded(tmp_path: Path) -> None:
    """Guards an existing audit.db (schema step 1) on upgrade: it gains the indexes, keeps
    its entries, and its chain still verifies."""
    with AuditLog(tmp_path) as log:
        fill(log, 3)
    db = sqlite3.connect(tmp_path / "audit.db")
    with db:
        for name in ("entries_action", "entries_actor", "entries_case"):
            db.execute(f"DROP INDEX {name}")
        db.execute("PRAGMA user_version = 1")
    db.close()
    with AuditLog(tmp_path) as log:
        assert log.db.execute("PRAGMA user_version").fetchone()[0] == 2
        names = {r[0] for r in log.db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"entries_action", "entries_actor", "entries_case"} <= names
        assert log.verify().ok and len(log.entries()) == 3


def test_monthly_counts_split_by_a_detail(audit: AuditLog) -> None:
    """Guards the transparency counts: per UTC month and action, by the detail's value,
    with None where the entry has no such key (old searches without a category)."""
    march, april = 1_772_323_200.0, 1_775_001_600.0  # 2026-03-01, 2026-04-01 (UTC)
    for at, category in [
        (march, "theft"),
        (march + 5, "theft"),
        (april - 1, None),
        (april, "violence"),
    ]:
        details = {"case_id": "C-1"} | ({"category": category} if category else {})
        audit.append("ines", "investigator", "search.tracks", details, at=at)
    audit.append("ines", "investigator", "track.view", {"category": "theft"}, at=march)
    got = audit.monthly_counts({"search.tracks"}, "category")
    assert sorted((c.month, c.action, c.value or "", c.n) for c in got) == [
        ("2026-03", "search.tracks", "", 1),
        ("2026-03", "search.tracks", "theft", 2),
        ("2026-04", "search.tracks", "violence", 1),
    ]
    with pytest.raises(ValueError, match="detail key"):
        audit.monthly_counts({"search.tracks"}, "x') OR 1=1 --")


def test_case_activity_and_tracks(audit: AuditLog) -> None:
    """Guards the per-case summary's inputs: counts, times and results per case, actor and
    action; tracks opened counted once per case however often they were opened."""
    busy_log(audit)
    rows = {(r.case_id, r.actor, r.action): r for r in audit.case_activity()}
    assert set(rows) == {
        ("C-1", "ines", "search.plates"),
        ("C-1", "ines", "track.view"),
        ("C-1", "ines", "thumbnail.view"),
        ("C-1", "omar", "search.plates"),
        ("C-2", "omar", "search.tracks"),
    }
    views = rows[("C-1", "ines", "track.view")]
    assert (views.n, views.first_at, views.last_at) == (2, T0 + 60, T0 + 300)
    assert rows[("C-1", "ines", "search.plates")].results == 3
    assert rows[("C-1", "omar", "search.plates")].results == 0
    assert audit.case_tracks() == {"C-1": 2, "C-2": 0}
    assert {r.case_id for r in audit.case_activity(since=T0 + 100, until=T0 + 200)} == {"C-2"}
    assert {r.actor for r in audit.case_activity(case="C-2")} == {"omar"}


def test_latest_and_first_at(audit: AuditLog) -> None:
    assert audit.latest("audit.verified") is None and audit.first_at() is None
    busy_log(audit)
    audit.append("system", "system", "audit.verified", {"ok": True}, at=T0 + 1000)
    audit.append("system", "system", "audit.verified", {"ok": False}, at=T0 + 2000)
    latest = audit.latest("audit.verified")
    assert latest is not None and latest.details == {"ok": False}
    assert audit.first_at() == T0


class _BusyLog(AuditLog):
    """An audit log that another process appends to right after ``verify`` read the rows:
    the moment a check on a busy hub can meet an append half-way."""

    def _rows(self) -> list[tuple[object, ...]]:
        rows = super()._rows()
        with AuditLog(self.head_path.parent) as other:
            other.append("ines", "investigator", "search.tracks", {"i": "late"})
        return rows


def test_a_check_during_appends_is_no_false_alarm(tmp_path: Path) -> None:
    """Guards the daily check on a busy hub reporting 'newest entries deleted' (and the
    public page then saying the log is broken) because an entry was appended between
    reading the rows and reading the head anchor."""
    with AuditLog(tmp_path) as log:
        fill(log, 3)
    with _BusyLog(tmp_path) as busy:
        result = busy.verify()
    assert result.ok and result.checked == 4, result
