"""The audit log: an append-only, tamper-evident record of who did what, and why.

Interface (for the API and every other caller)::

    from civicsight.audit import AuditLog, BiometricSearch, input_digest

    with AuditLog(settings.data_dir) as audit:          # open() ... close() also work
        audit.append("alice", "investigator", "search.tracks",
                     {"case_id": "2026/118", "purpose": "...", "query": {...}, "results": 12})
        audit.append_biometric_search("alice", "investigator", BiometricSearch(
            case_id="2026/118", purpose="missing child", input_sha256=input_digest(jpeg),
            reference_lists=("missing",), started_at=t0, ended_at=t1, matches=("m-0042",)))
        audit.entries(since=ts, action="search.tracks")  # -> list[AuditEntry]
        audit.entries(actor="alice", case="2026/118", newest_first=True, limit=50)
        audit.monthly_counts({"search.tracks"}, "category")  # -> list[MonthlyCount]
        audit.case_activity(since=ts)  # -> list[CaseActivity], per case, actor, action
        audit.verify()  # -> Verification(ok, checked, problem, seq)

``append(actor, role, action, details)`` returns the stored ``AuditEntry``. ``actor`` is
who (user name, or ``system`` for a service), ``role`` the role they acted in (``local``
for the command line on the hub host), ``action`` one of ``ACTIONS`` (an unknown action is
refused, so a typo cannot hide an entry), ``details`` a small JSON object. Keys that name
secrets (``password``, ``token``, ...) and raw biometric data (``embedding``, ``vector``,
...) are refused, as is any value that looks like an API token: the log must never hold
them. Appends are safe across threads and processes (``BEGIN IMMEDIATE``).

Tamper evidence:
- Each entry carries ``prev`` (the previous entry's MAC) and ``mac`` = HMAC-SHA256 over
  its sequence number, time, actor, role, action, details and ``prev``. The key lives in
  ``<data_dir>/audit.key`` (owner-only), not in the database, so someone who can write
  only the database cannot re-chain edited entries.
- ``<data_dir>/audit.head`` (owner-only) holds the newest entry's number and MAC: deleting
  the newest entries is detected. An append that finds the database behind the head
  continues from the head, so the gap stays visible.
- Retention (``purge(before)``) deletes the oldest entries and appends an ``audit.purged``
  entry naming the last deleted entry and its MAC; ``verify`` accepts a log that starts
  after such a purge and nothing else.
- ``verify`` reports the first problem: an edited entry (MAC mismatch), a deleted entry
  (a gap in the numbers or a broken link), deleted newest entries (behind the head).
  Someone with both the key file and the database can still rewrite history; keep the data
  folder on a host only administrators reach, and copy ``audit.head`` elsewhere to check.
- A crash between writing the head and the commit leaves the head one entry ahead, which
  ``verify`` reports as missing entries: a false alarm, never a missed deletion.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from civicsight.sqlite_file import SqliteFile

DB_NAME, KEY_NAME, HEAD_NAME = "audit.db", "audit.key", "audit.head"
GENESIS = "0" * 64
MAX_DETAILS_BYTES = 16 * 1024

ACTIONS: frozenset[str] = frozenset(
    {
        "login",  # details: {"ok": bool, "method": "password"|"token"}
        "login.failed",  # details: {"client": address}
        "logout",
        "password.changed",
        "user.add",  # details: user, user_role
        "user.password_reset",  # details: user (never the password)
        "user.disable",  # details: user
        "user.enable",  # details: user
        "search.tracks",  # details: case_id, purpose, query, results
        "search.plates",  # details: case_id, purpose, query, results
        "search.image",  # details: case_id, purpose, input_sha256, query, results
        "track.view",  # details: case_id, purpose, track
        "aggregates.read",  # the retired /api/aggregates (kept: older entries name it)
        "traffic.read",  # details: table, since, until, camera, cls, format, rows
        "traffic.export",  # details: kind (tables | report), since, until, out, rows
        "audit.read",  # details: the filters read with
        "audit.verified",  # details: ok, checked, problem, seq (the scheduled chain check)
        "search.biometric",  # written by append_biometric_search only
        "export",
        "thumbnail.view",
        "track.merge",
        "track.split",
        "watchlist.add",
        "watchlist.remove",
        "watchlist.expired",
        "alert.raised",
        "alert.confirm",
        "alert.dismiss",
        "alert.view",  # details: alert_id, image (crop | reference); never the person's name
        "watchlist.view",  # details: entries (how many); never names
        "setting.change",
        "camera.faces_enabled",
        "camera.faces_disabled",
        "camera.rules",  # details: camera, lines, zones (how many, never where)
        "token.issue",
        "token.revoke",
        "retention.run",
        "audit.purged",  # written by purge only
    }
)
OWN_METHOD = frozenset({"search.biometric", "audit.purged"})
FORBIDDEN_KEYS = frozenset(
    {"password", "passwd", "secret", "token", "api_key", "embedding", "embeddings", "vector"}
)
TOKEN_LIKE = re.compile(r"cs_[A-Za-z0-9_-]{16,}")
NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,120}$")
ROLE = re.compile(r"^[a-z][a-z_]{0,31}$")

CASE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9/._-]{0,63}$"
"""A case reference: what the API, the watchlist and the audit log accept alike."""

CaseId = Annotated[
    str,
    Field(
        pattern=CASE_PATTERN,
        description="case reference, e.g. 2026/118 (letters, digits, / . _ -)",
    ),
]


def _printable(text: str) -> str:
    if not text.isprintable():
        raise ValueError("purpose must be printable text")
    return text


PurposeText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=5, max_length=500),
    AfterValidator(_printable),
    Field(description="why this search is needed, in words (5-500 printable characters)"),
]


PurposeCategory = Literal[
    "missing_person", "theft", "violence", "traffic_collision", "public_safety", "other"
]
"""What kind of purpose a search serves: the public transparency page counts searches per
month by these, never by case."""
PURPOSE_CATEGORIES: tuple[str, ...] = get_args(PurposeCategory)


class SearchPurpose(BaseModel):
    """Why a search is made: the case it belongs to, the stated purpose and its category.
    Every search needs one; the same rules hold where it is checked (the API, before
    searching) and where it is written (the audit log), so a search that ran can always
    be logged."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    case: CaseId
    purpose: PurposeText
    category: PurposeCategory = "other"

    def details(self) -> dict[str, str]:
        """What every search's audit entry says of why it was made."""
        return {"case_id": self.case, "purpose": self.purpose, "category": self.category}


class AuditError(ValueError):
    """An entry that cannot be written; the message says why."""


class AuditEntry(BaseModel):
    """One stored entry."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    seq: int = Field(ge=1, description="position in the chain, 1, 2, 3, ... without gaps")
    at: float = Field(description="Unix time of the action")
    actor: str
    role: str
    action: str
    details: dict[str, Any]
    prev: str = Field(description="MAC of the previous entry (GENESIS for the first)")
    mac: str


class BiometricSearch(BaseModel):
    """What EU AI Act Art. 12(3) asks to log for each use of remote biometric
    identification: the period of use, the reference database(s) checked, the input data
    (here its SHA-256: the image itself is never logged), the results, and for what case
    and purpose. The person who ran it is the entry's actor."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    case_id: CaseId
    purpose: PurposeText
    category: PurposeCategory = "other"
    input_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the probe")
    reference_lists: tuple[str, ...] = Field(
        min_length=1, description="watchlist ids (reference databases) searched"
    )
    started_at: float = Field(ge=0)
    ended_at: float = Field(ge=0)
    matches: tuple[str, ...] = Field((), description="opaque entry ids the search returned")

    @model_validator(mode="after")
    def _check(self) -> BiometricSearch:
        if self.ended_at < self.started_at:
            raise ValueError("ended_at before started_at")
        return self


def input_digest(data: bytes) -> str:
    """The SHA-256 (hex) of a search input, for ``BiometricSearch.input_sha256``."""
    return hashlib.sha256(data).hexdigest()


DETAIL_KEY = re.compile(r"^[a-z_]{1,40}$")


@dataclass(frozen=True)
class MonthlyCount:
    """``n`` entries of ``action`` in ``month`` (``YYYY-MM``, UTC) whose details held
    ``value`` under the key counted by (None: the key was absent)."""

    month: str
    action: str
    value: str | None
    n: int


@dataclass(frozen=True)
class CaseActivity:
    """One actor's entries of one action under one case (see ``AuditLog.case_activity``)."""

    case_id: str
    actor: str
    action: str
    n: int
    first_at: float
    last_at: float
    results: int  # results and matches the entries listed


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    problem: str = ""
    seq: int | None = None  # the entry at (or just after) the problem

    def __str__(self) -> str:
        if self.ok:
            return f"audit log intact: {self.checked} entries checked"
        return f"audit log broken at entry #{self.seq}: {self.problem}"


SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
  seq INTEGER PRIMARY KEY,
  at REAL NOT NULL,
  actor TEXT NOT NULL,
  role TEXT NOT NULL,
  action TEXT NOT NULL,
  details TEXT NOT NULL,
  prev TEXT NOT NULL,
  mac TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_at ON entries (at);
"""
INDEXES = """
CREATE INDEX IF NOT EXISTS entries_action ON entries (action, seq);
CREATE INDEX IF NOT EXISTS entries_actor ON entries (actor, seq);
CREATE INDEX IF NOT EXISTS entries_case ON entries (json_extract(details, '$.case_id'), seq);
"""
"""Step 2: the auditor's filters (action, user, case) and the monthly counts of the
transparency page read a year of entries through indexes, not a scan."""
CASE_EXPR = "json_extract(details, '$.case_id')"
"""The case of an entry, spelled exactly as its index is, so SQLite uses the index."""


def _walk(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if not isinstance(key, str):
                raise AuditError(f"details{path}: keys must be strings")
            if key.lower() in FORBIDDEN_KEYS:
                raise AuditError(
                    f"details{path}.{key}: secrets and biometric data are never logged"
                )
            _walk(inner, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, inner in enumerate(value):
            _walk(inner, f"{path}[{i}]")
    elif isinstance(value, str) and TOKEN_LIKE.search(value):
        raise AuditError(f"details{path}: looks like an API token; tokens are never logged")


def canonical_details(details: Mapping[str, Any] | None) -> str:
    """The details as canonical JSON (what the MAC covers); refuses secrets and big blobs."""
    details = dict(details or {})
    _walk(details, "")
    try:
        text = json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as err:
        raise AuditError(f"details must be plain JSON: {err}") from None
    if len(text.encode()) > MAX_DETAILS_BYTES:
        raise AuditError(f"details over {MAX_DETAILS_BYTES} bytes")
    return text


def _message(
    seq: int, at: float, actor: str, role: str, action: str, details: str, prev: str
) -> bytes:
    return "\n".join((str(seq), repr(float(at)), actor, role, action, details, prev)).encode()


def _owner_only_write(path: Path, data: bytes) -> None:
    """Write atomically (temp file, fsync, rename), readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class AuditLog(SqliteFile):
    """The hub's audit log in ``<data_dir>/audit.db``. Lifecycle: open() ... close(), or
    ``with AuditLog(data_dir) as audit:``. See the module docstring."""

    migrations = (SCHEMA, INDEXES)
    pragmas = ("secure_delete = ON",)

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir / DB_NAME)
        self.key_path = data_dir / KEY_NAME
        self.head_path = data_dir / HEAD_NAME
        self._key = b""

    # lifecycle

    def open(self) -> None:
        super().open()
        self.db.isolation_level = None  # transactions are explicit (BEGIN IMMEDIATE)
        self._key = self._load_key()

    def __enter__(self) -> AuditLog:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _load_key(self) -> bytes:
        try:
            fd = os.open(self.key_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            key = self.key_path.read_bytes()
            if len(key) < 32:
                raise AuditError(f"{self.key_path}: key file too short (damaged?)") from None
            return key
        key = secrets.token_bytes(32)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        return key

    def pseudonym(self, value: str) -> str:
        """A stable stand-in for a value the log must not hold in clear (a user name
        typed at a failed sign-in may be a password): keyed with the log's key, so it
        cannot be reversed by trying every short string without the key file."""
        mac = hmac.new(self._key, b"pseudonym\x00" + value.encode(), hashlib.sha256)
        return "anon-" + mac.hexdigest()[:16]

    # writing

    def append(
        self,
        actor: str,
        role: str,
        action: str,
        details: Mapping[str, Any] | None = None,
        *,
        at: float | None = None,
    ) -> AuditEntry:
        """Append one entry and return it. Raises ``AuditError`` for a bad entry."""
        if action in OWN_METHOD:
            raise AuditError(f"{action!r} entries are written by their own method")
        if action not in ACTIONS:
            raise AuditError(f"unknown action {action!r}; known: {', '.join(sorted(ACTIONS))}")
        return self._append(actor, role, action, details, at)

    def append_biometric_search(
        self, actor: str, role: str, search: BiometricSearch, *, at: float | None = None
    ) -> AuditEntry:
        """The Art. 12(3) record of one biometric search (action ``search.biometric``)."""
        return self._append(actor, role, "search.biometric", search.model_dump(mode="json"), at)

    def _append(
        self,
        actor: str,
        role: str,
        action: str,
        details: Mapping[str, Any] | None,
        at: float | None,
    ) -> AuditEntry:
        if not NAME.fullmatch(actor) or not actor.strip():
            raise AuditError("actor must be 1-120 printable characters")
        if not ROLE.fullmatch(role):
            raise AuditError(f"role {role!r} is not a lower-case name")
        text = canonical_details(details)
        when = time.time() if at is None else float(at)
        with self._transaction():
            return self._append_locked(actor, role, action, text, when)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            old_head = self._read_head_bytes()
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                if old_head is None:
                    self.head_path.unlink(missing_ok=True)
                else:
                    _owner_only_write(self.head_path, old_head)
                raise

    def _append_locked(
        self, actor: str, role: str, action: str, details: str, at: float
    ) -> AuditEntry:
        seq, prev = self._tip()
        mac = hmac.new(
            self._key, _message(seq, at, actor, role, action, details, prev), hashlib.sha256
        ).hexdigest()
        self.db.execute(
            "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, at, actor, role, action, details, prev, mac),
        )
        _owner_only_write(self.head_path, json.dumps({"seq": seq, "mac": mac}).encode())
        return _entry((seq, at, actor, role, action, details, prev, mac))

    def _tip(self) -> tuple[int, str]:
        """(next seq, prev MAC): after the newest of the database's last entry and the
        head anchor, so entries deleted from the end leave a visible gap."""
        row = self.db.execute("SELECT seq, mac FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
        last_seq, last_mac = (int(row[0]), str(row[1])) if row else (0, GENESIS)
        head = self.head()
        if head is not None and head[0] > last_seq:
            last_seq, last_mac = head
        return last_seq + 1, last_mac

    def _read_head_bytes(self) -> bytes | None:
        try:
            return self.head_path.read_bytes()
        except FileNotFoundError:
            return None

    def head(self) -> tuple[int, str] | None:
        """(seq, mac) of the newest entry as the head anchor records it."""
        raw = self._read_head_bytes()
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
            return int(doc["seq"]), str(doc["mac"])
        except (ValueError, KeyError, TypeError):
            return (-1, "unreadable")

    data_classes: tuple[str, ...] = ("audit",)

    def purge(self, data_class: str, before: float, *, at: float | None = None) -> int:
        """Retention (``civicsight.retention.Retainer``): delete the oldest entries made
        before ``before`` (a prefix of the chain) and record the purge in the chain.
        Returns how many were deleted."""
        if data_class != "audit":
            raise ValueError(f"the audit log holds only 'audit', not {data_class!r}")
        when = time.time() if at is None else float(at)
        with self._transaction():
            first = self.db.execute("SELECT MIN(seq) FROM entries").fetchone()[0]
            if first is None:
                return 0
            keep = self.db.execute("SELECT MIN(seq) FROM entries WHERE at >= ?", (before,))
            keep_from = keep.fetchone()[0]
            last = self.db.execute("SELECT MAX(seq) FROM entries").fetchone()[0]
            through = int(last) if keep_from is None else int(keep_from) - 1
            if through < int(first):
                return 0
            (mac,) = self.db.execute("SELECT mac FROM entries WHERE seq = ?", (through,)).fetchone()
            deleted = self.db.execute("DELETE FROM entries WHERE seq <= ?", (through,)).rowcount
            details = {
                "through_seq": through,
                "last_mac": mac,
                "deleted": deleted,
                "before": before,
            }
            self._append_locked(
                "system", "system", "audit.purged", canonical_details(details), when
            )
        return int(deleted)

    # reading

    def entries(
        self,
        since: float | None = None,
        action: str | Collection[str] | None = None,
        limit: int | None = None,
        *,
        until: float | None = None,
        actor: str | None = None,
        case: str | None = None,
        cursor: int | None = None,
        newest_first: bool = False,
    ) -> list[AuditEntry]:
        """Entries in chain order (``newest_first``: the reverse), filtered in SQL: made at
        or after ``since`` and at or before ``until`` (Unix time), of one action or any of
        several, by one ``actor``, for one ``case`` (``details.case_id``). ``cursor`` is
        the ``seq`` of the last entry of the previous page: the next page starts after
        it, in the order asked for."""
        where, args = self._filters(since, until, action, actor, case)
        if cursor is not None:
            where.append("seq < ?" if newest_first else "seq > ?")
            args.append(cursor)
        sql = "SELECT * FROM entries WHERE " + " AND ".join(where or ["1=1"])
        sql += " ORDER BY seq DESC" if newest_first else " ORDER BY seq"
        if limit is not None:
            sql, args = sql + " LIMIT ?", [*args, limit]
        with self._lock:
            rows = self.db.execute(sql, args).fetchall()
        return [_entry(r) for r in rows]

    @staticmethod
    def _filters(
        since: float | None,
        until: float | None,
        action: str | Collection[str] | None,
        actor: str | None = None,
        case: str | None = None,
    ) -> tuple[list[str], list[object]]:
        where: list[str] = []
        args: list[object] = []
        if since is not None:
            where, args = [*where, "at >= ?"], [*args, since]
        if until is not None:
            where, args = [*where, "at <= ?"], [*args, until]
        if isinstance(action, str):
            where, args = [*where, "action = ?"], [*args, action]
        elif action is not None:
            names = sorted(set(action))
            where.append(f"action IN ({', '.join('?' * len(names))})" if names else "0")
            args += names
        if actor is not None:
            where, args = [*where, "actor = ?"], [*args, actor]
        if case is not None:
            where, args = [*where, f"{CASE_EXPR} = ?"], [*args, case]
        return where, args

    def latest(self, action: str) -> AuditEntry | None:
        """The newest entry of ``action`` (through its index: cheap on a long log)."""
        found = self.entries(action=action, limit=1, newest_first=True)
        return found[0] if found else None

    def first_at(self) -> float | None:
        """When the oldest entry still kept was made (None for an empty log)."""
        with self._lock:
            row = self.db.execute("SELECT at FROM entries ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else float(row[0])

    def monthly_counts(self, actions: Collection[str], key: str) -> list[MonthlyCount]:
        """How many entries of each of ``actions`` were made per calendar month (UTC), split
        by the value of ``details.<key>`` (None where absent): counted by SQLite, so a year
        of searches is never read into Python."""
        if not DETAIL_KEY.fullmatch(key):
            raise ValueError(f"detail key {key!r}: lower-case letters and _ only")
        where, args = self._filters(None, None, actions)
        sql = (
            "SELECT strftime('%Y-%m', at, 'unixepoch') AS month, action, "
            "json_extract(details, ?) AS value, COUNT(*) FROM entries "
            f"WHERE {' AND '.join(where)} GROUP BY month, action, value"
        )
        with self._lock:
            rows = self.db.execute(sql, [f"$.{key}", *args]).fetchall()
        return [MonthlyCount(m, a, None if v is None else str(v), int(n)) for m, a, v, n in rows]

    def case_activity(
        self, since: float | None = None, until: float | None = None, case: str | None = None
    ) -> list[CaseActivity]:
        """What was done under each case: per (case, actor, action) how many entries, when
        first and last, and how many results they returned (``results`` and ``matches``
        lists)."""
        where, args = self._filters(since, until, None, None, case)
        where.append(f"{CASE_EXPR} IS NOT NULL")
        sql = (
            f"SELECT {CASE_EXPR} AS c, actor, action, COUNT(*), MIN(at), MAX(at), "
            "SUM(CASE json_type(details, '$.results') WHEN 'array' "
            "THEN json_array_length(details, '$.results') ELSE 0 END "
            "+ CASE json_type(details, '$.matches') WHEN 'array' "
            "THEN json_array_length(details, '$.matches') ELSE 0 END) "
            f"FROM entries WHERE {' AND '.join(where)} GROUP BY c, actor, action"
        )
        with self._lock:
            rows = self.db.execute(sql, args).fetchall()
        return [
            CaseActivity(str(c), str(who), str(act), int(n), float(t0), float(t1), int(r or 0))
            for c, who, act, n, t0, t1, r in rows
        ]

    def case_tracks(
        self, since: float | None = None, until: float | None = None, case: str | None = None
    ) -> dict[str, int]:
        """Per case, how many different tracks were opened under it (``details.track``:
        track views, thumbnails, exports)."""
        where, args = self._filters(since, until, None, None, case)
        where.append(f"{CASE_EXPR} IS NOT NULL")
        sql = (
            f"SELECT {CASE_EXPR} AS c, COUNT(DISTINCT json_extract(details, '$.track')) "
            f"FROM entries WHERE {' AND '.join(where)} GROUP BY c"
        )
        with self._lock:
            rows = self.db.execute(sql, args).fetchall()
        return {str(c): int(k) for c, k in rows}

    def _rows(self) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.db.execute("SELECT * FROM entries ORDER BY seq").fetchall()

    def _tail_and_head(self, after: int) -> tuple[list[tuple[Any, ...]], tuple[int, str] | None]:
        """The entries after ``after`` and the head anchor, read together under the write
        lock: an append writes its row and the head in one transaction, so the two agree
        here even while other processes keep appending."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                tail = self.db.execute(
                    "SELECT * FROM entries WHERE seq > ? ORDER BY seq", (after,)
                ).fetchall()
                return tail, self.head()
            finally:
                self.db.execute("COMMIT")

    def verify(self) -> Verification:
        """Check every MAC and link, the start (genesis or a recorded purge) and the head.

        The whole log is read without blocking appends; the entries appended meanwhile are
        then read with the head under the write lock (briefly), so a busy hub's check never
        mistakes an append in progress for deleted entries."""
        rows = self._rows()
        tail, head = self._tail_and_head(int(rows[-1][0]) if rows else 0)
        rows += tail
        if not rows:
            if head is None:
                return Verification(True, 0)
            return Verification(
                False, 0, f"the log is empty but the head anchor records #{head[0]}", head[0]
            )
        purges: dict[int, str] = {}
        prev_seq, prev_mac = int(rows[0][0]) - 1, str(rows[0][6])
        for i, row in enumerate(rows):
            seq, at, actor, role, action, details, prev, mac = row
            if seq != prev_seq + 1:
                missing = f"#{prev_seq + 1}" + (f"..#{seq - 1}" if seq - 1 > prev_seq + 1 else "")
                return Verification(False, i, f"entry {missing} deleted", prev_seq + 1)
            if prev != prev_mac:
                return Verification(False, i, "link to the previous entry broken", seq)
            want = hmac.new(
                self._key, _message(seq, at, actor, role, action, details, prev), hashlib.sha256
            ).hexdigest()
            if not hmac.compare_digest(want, mac):
                return Verification(False, i, "entry edited (MAC does not match)", seq)
            if action == "audit.purged":
                doc = json.loads(details)
                purges[int(doc["through_seq"])] = str(doc["last_mac"])
            prev_seq, prev_mac = seq, mac
        first_seq, first_prev = int(rows[0][0]), str(rows[0][6])
        if first_seq == 1:
            if first_prev != GENESIS:
                return Verification(False, 0, "first entry does not start the chain", 1)
        elif purges.get(first_seq - 1) != first_prev:
            return Verification(
                False,
                0,
                f"entries before #{first_seq} deleted without a recorded purge",
                first_seq - 1,
            )
        if head is None:
            return Verification(False, len(rows), "head anchor file missing", prev_seq)
        if head != (prev_seq, prev_mac):
            if head[0] > prev_seq:
                return Verification(
                    False,
                    len(rows),
                    f"newest entries deleted: the log ends at #{prev_seq}, "
                    f"the head anchor records #{head[0]}",
                    prev_seq + 1,
                )
            return Verification(False, len(rows), "head anchor does not match", prev_seq)
        return Verification(True, len(rows))


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    seq, at, actor, role, action, details, prev, mac = row
    return AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        role=role,
        action=action,
        details=json.loads(details),
        prev=prev,
        mac=mac,
    )


def open_audit(data_dir: Path) -> AuditLog:
    """An opened audit log for ``data_dir`` (close it when done)."""
    log = AuditLog(data_dir)
    log.open()
    return log
