"""Bearer tokens for the local data dir: issued by an administrator, stored only as hashes.

There are no default credentials: until ``civicsight token issue`` issues one, no token
verifies, so every authenticated API route answers 401. A raw token is shown once, at
issue time, and never stored or logged; the database keeps its SHA-256, role, label,
creation time and expiry. Every token expires (``TOKEN_DAYS_DEFAULT`` days unless the
issuer says otherwise, at most ``MAX_TOKEN_DAYS``) and can be revoked. ``token_id`` is a
separate public handle used to list and revoke tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from civicsight.auth_db import AUTH_MIGRATIONS, TOKEN_DAYS_DEFAULT
from civicsight.sqlite_file import SqliteFile

TOKEN_PREFIX = "cs_"
MAX_TOKEN_CHARS = 128
MAX_LABEL_CHARS = 120
MAX_TOKEN_DAYS = 366
"""A token lives at most a year: a forgotten one must die on its own."""


class Role(StrEnum):
    """Who a token or user is; ``PERMISSIONS`` says what each role may do."""

    VIEWER = "viewer"  # a wall screen or a viewer: live tiles only
    OPERATOR = "operator"  # a control-room operator: live tiles and watchlist alerts
    INVESTIGATOR = "investigator"
    TRAFFIC_ANALYST = "traffic_analyst"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Permission(StrEnum):
    LIVE = "live"  # live camera tiles, rules and events (faces blurred unless FACES too)
    FACES = "faces"  # see faces unblurred in frames and crops
    SEARCH = "search"  # search tracks, see their detail, crops and plates (case + purpose)
    CORRECT = "correct"  # merge or split tracks
    EXPORT = "export"  # export a track as a case file (case + purpose)
    ALERTS = "alerts"  # see watchlist alerts with their crops; confirm or dismiss them
    WATCHLIST = "watchlist"  # add and remove watchlist entries (with a case)
    AGGREGATES = "aggregates"  # counts and flows, small counts suppressed; no plates or ids
    AUDIT = "audit"  # read the audit log
    MANAGE = "manage"  # users, tokens, cameras, rules; retention settings (read)


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.LIVE}),
    Role.OPERATOR: frozenset({Permission.LIVE, Permission.ALERTS}),
    Role.INVESTIGATOR: frozenset(
        {
            Permission.LIVE,
            Permission.SEARCH,
            Permission.CORRECT,
            Permission.EXPORT,
            Permission.FACES,
            Permission.ALERTS,
            Permission.WATCHLIST,
        }
    ),
    Role.TRAFFIC_ANALYST: frozenset({Permission.AGGREGATES}),
    Role.AUDITOR: frozenset({Permission.AUDIT}),
    Role.ADMIN: frozenset({Permission.LIVE, Permission.AGGREGATES, Permission.MANAGE}),
}
"""Separation of duties: the admin, who manages users and cameras, never searches or
sees faces; the auditor, who reads the log, does nothing else; watchlist entries are
made by investigators under a case; alerts are confirmed by two different people."""


def may(role: Role, permission: Permission) -> bool:
    return permission in PERMISSIONS[role]


@dataclass(frozen=True)
class Principal:
    """The holder of a verified token. Carries no secret."""

    token_id: str
    role: Role
    label: str
    expires_at: float | None = None  # when the token or session ends


@dataclass(frozen=True)
class TokenInfo:
    """One issued token as an administrator may list it (never the token itself)."""

    token_id: str
    role: Role
    label: str
    created_at: float
    expires_at: float
    revoked_at: float | None

    def live(self, now: float) -> bool:
        return self.revoked_at is None and now < self.expires_at


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _clean_label(label: str) -> str:
    label = label.strip()
    if not label or len(label) > MAX_LABEL_CHARS:
        raise ValueError(f"label must have 1 to {MAX_LABEL_CHARS} characters")
    if any(not ch.isprintable() for ch in label):
        raise ValueError("label must not contain control characters")
    return label


class TokenStore(SqliteFile):
    """SQLite table of token hashes (``<data_dir>/auth.db``). Lifecycle: open() ... close()."""

    migrations = AUTH_MIGRATIONS
    wal = False

    def issue(
        self,
        role: Role | str,
        label: str,
        ttl_s: float = TOKEN_DAYS_DEFAULT * 86400,
        now: float | None = None,
    ) -> str:
        """A new random token for ``role``, valid ``ttl_s`` seconds; only its hash is kept.
        Shown to the caller once."""
        return self.issue_listed(role, label, ttl_s, now)[0]

    def issue_listed(
        self,
        role: Role | str,
        label: str,
        ttl_s: float = TOKEN_DAYS_DEFAULT * 86400,
        now: float | None = None,
    ) -> tuple[str, TokenInfo]:
        """Like ``issue``, with the new token as ``issued()`` will list it (its public id
        above all, which the audit log and a later revocation use)."""
        role = Role(role)
        label = _clean_label(label)
        if not 0 < ttl_s <= MAX_TOKEN_DAYS * 86400:
            raise ValueError(f"a token lives more than 0 s and at most {MAX_TOKEN_DAYS} days")
        at = time.time() if now is None else now
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = secrets.token_hex(8)
        with self._lock, self.db:
            self.db.execute(
                "INSERT INTO tokens (token_id, token_sha256, role, label, created_at, "
                "revoked_at, expires_at) VALUES (?, ?, ?, ?, ?, NULL, ?)",
                (token_id, _digest(token), role.value, label, at, at + ttl_s),
            )
        return token, TokenInfo(token_id, role, label, at, at + ttl_s, None)

    def verify(self, token: str, now: float | None = None) -> Principal | None:
        """The principal of a valid, unexpired, unrevoked token; None for anything else."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_CHARS:
            return None
        digest = _digest(token)
        at = time.time() if now is None else now
        with self._lock:
            row = self.db.execute(
                "SELECT token_id, token_sha256, role, label, expires_at FROM tokens "
                "WHERE token_sha256 = ? AND revoked_at IS NULL AND expires_at > ?",
                (digest, at),
            ).fetchone()
        if row is None or not hmac.compare_digest(str(row[1]), digest):
            return None
        try:
            role = Role(row[2])
        except ValueError:
            return None
        return Principal(token_id=row[0], role=role, label=row[3], expires_at=row[4])

    def revoke(self, token_id: str, now: float | None = None) -> bool:
        """Revoke a token by its id; True if a live token was revoked."""
        at = time.time() if now is None else now
        with self._lock, self.db:
            cur = self.db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                (at, token_id),
            )
        return cur.rowcount == 1

    def issued(self) -> list[TokenInfo]:
        """Every token ever issued (live, expired and revoked), oldest first, without
        hashes."""
        with self._lock:
            rows = self.db.execute(
                "SELECT token_id, role, label, created_at, expires_at, revoked_at FROM tokens "
                "ORDER BY created_at, token_id"
            ).fetchall()
        return [TokenInfo(r[0], Role(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    def get(self, token_id: str) -> TokenInfo | None:
        """One issued token by its public id (never its hash)."""
        with self._lock:
            row = self.db.execute(
                "SELECT token_id, role, label, created_at, expires_at, revoked_at FROM tokens "
                "WHERE token_id = ?",
                (token_id,),
            ).fetchone()
        return None if row is None else TokenInfo(row[0], Role(row[1]), *row[2:])

    def count_active(self, now: float | None = None) -> int:
        at = time.time() if now is None else now
        with self._lock:
            row = self.db.execute(
                "SELECT COUNT(*) FROM tokens WHERE revoked_at IS NULL AND expires_at > ?", (at,)
            ).fetchone()
        return int(row[0])


def auth_db_path(data_dir: Path) -> Path:
    return data_dir / "auth.db"
