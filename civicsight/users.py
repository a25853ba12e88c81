"""People who sign in to the web control room: passwords, sessions, login throttling.

- Passwords are stored only as argon2id hashes (``argon2-cffi``). There is no default user:
  the first ``civicsight up`` creates ``admin`` with a random one-time password, printed
  once; until it is changed that session may only change it (``must_change``).
- A session is a random id in an HttpOnly cookie; the database keeps its SHA-256, the
  user, an expiry and the session's CSRF token, which every state-changing request made
  with the cookie must echo in ``X-CSRF-Token``.
- Failed logins, and wrong current passwords in a password change, are counted per user
  name and per client address over a sliding window; past the limit the attempt is
  refused with the seconds to wait, even with the right password.

Lifecycle: ``open()`` ... ``close()``. The clock is passed in (``now``) so that tests can
move it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from civicsight.auth import Principal, Role
from civicsight.auth_db import AUTH_MIGRATIONS
from civicsight.sqlite_file import SqliteFile

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 256
SESSION_S = 8 * 3600
FAIL_WINDOW_S = 300.0
MAX_FAILURES = 5
FIRST_ADMIN = "admin"


class LoginRefusedError(Exception):
    """Wrong user or password (the message never says which)."""


class LoginThrottledError(Exception):
    """Too many failed logins for this user or address; ``retry_after`` seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class UserInfo:
    """A user as an administrator may list them (never the password hash)."""

    username: str
    role: Role
    created_at: float
    disabled_at: float | None
    must_change: bool  # signs in with a one-time password that must be changed first


class UnknownUserError(LookupError):
    """No user of that name."""


@dataclass(frozen=True)
class Session:
    """A signed-in user. ``session_id`` goes to the cookie once and is never stored."""

    session_id: str
    csrf: str
    principal: Principal
    must_change: bool
    expires_at: float


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def check_password_rules(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")


class UserStore(SqliteFile):
    """``<data_dir>/auth.db`` (beside the API tokens): users, sessions, failed logins."""

    migrations = AUTH_MIGRATIONS
    wal = False

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        from argon2 import PasswordHasher

        self._hasher = PasswordHasher()

    def add(self, username: str, role: Role | str, now: float) -> str:
        """A new user with a random one-time password (returned once, to be changed)."""
        if not USERNAME.fullmatch(username):
            raise ValueError("a user name is 2-64 characters: a-z first, then a-z 0-9 . _ -")
        role = Role(role)
        secret = secrets.token_urlsafe(18)
        with self._lock, self.db:
            if self.db.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
                raise ValueError(f"user {username!r} exists")
            self.db.execute(
                "INSERT INTO users VALUES (?, ?, ?, 1, ?, NULL)",
                (username, role.value, self._hasher.hash(secret), now),
            )
        return secret

    def users(self) -> list[UserInfo]:
        """Every user, enabled and disabled, by name."""
        return self._infos("ORDER BY username", ())

    def user(self, username: str) -> UserInfo | None:
        found = self._infos("WHERE username = ?", (username,))
        return found[0] if found else None

    def _infos(self, clause: str, args: tuple[str, ...]) -> list[UserInfo]:
        with self._lock:
            rows = self.db.execute(
                "SELECT username, role, created_at, disabled_at, must_change FROM users " + clause,
                args,
            ).fetchall()
        return [UserInfo(r[0], Role(r[1]), r[2], r[3], bool(r[4])) for r in rows]

    def reset_password(self, username: str) -> str:
        """A new random one-time password for ``username`` (returned once): it must be
        changed at the next sign-in, every session of the user ends now, and the user
        name's failed sign-ins are forgotten (so the user can sign in with it at once).
        Raises ``UnknownUserError``."""
        secret = secrets.token_urlsafe(18)
        with self._lock, self.db:
            cur = self.db.execute(
                "UPDATE users SET password_hash = ?, must_change = 1 WHERE username = ?",
                (self._hasher.hash(secret), username),
            )
            if cur.rowcount != 1:
                raise UnknownUserError(f"no user {username!r}")
            self.db.execute("DELETE FROM sessions WHERE username = ?", (username,))
            self.db.execute("DELETE FROM login_failures WHERE key = ?", (f"user:{username}",))
        return secret

    def disable(self, username: str, now: float) -> bool:
        """Disable a user: no sign-in, and every session ends now. False when already
        disabled. Raises ``UnknownUserError``."""
        with self._lock, self.db:
            if not self.db.execute(
                "SELECT 1 FROM users WHERE username = ?", (username,)
            ).fetchone():
                raise UnknownUserError(f"no user {username!r}")
            cur = self.db.execute(
                "UPDATE users SET disabled_at = ? WHERE username = ? AND disabled_at IS NULL",
                (now, username),
            )
            self.db.execute("DELETE FROM sessions WHERE username = ?", (username,))
        return cur.rowcount == 1

    def enable(self, username: str) -> bool:
        """Let a disabled user sign in again (with their password as it was). False when
        not disabled. Raises ``UnknownUserError``."""
        with self._lock, self.db:
            if not self.db.execute(
                "SELECT 1 FROM users WHERE username = ?", (username,)
            ).fetchone():
                raise UnknownUserError(f"no user {username!r}")
            cur = self.db.execute(
                "UPDATE users SET disabled_at = NULL "
                "WHERE username = ? AND disabled_at IS NOT NULL",
                (username,),
            )
        return cur.rowcount == 1

    def ensure_first_admin(self, now: float) -> str | None:
        """On a hub without users: create ``admin`` and return its one-time password."""
        with self._lock:
            count = self.db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
        return None if count else self.add(FIRST_ADMIN, Role.ADMIN, now)

    def login(self, username: str, password: str, client: str, now: float) -> Session:
        keys = (f"user:{username[:64]}", f"client:{client[:64]}")
        self._throttle(keys, now)
        with self._lock:
            row = self.db.execute(
                "SELECT role, password_hash, must_change FROM users "
                "WHERE username = ? AND disabled_at IS NULL",
                (username,),
            ).fetchone()
        if row is None or len(password) > MAX_PASSWORD or not self._matches(row[1], password):
            self._failed(keys, now)
            raise LoginRefusedError("wrong user name or password")
        with self._lock, self.db:
            self.db.execute("DELETE FROM login_failures WHERE key = ?", (keys[0],))
        return self._new_session(username, Role(row[0]), bool(row[2]), now)

    def _matches(self, stored: str, password: str) -> bool:
        from argon2.exceptions import VerificationError

        try:
            return bool(self._hasher.verify(stored, password))
        except VerificationError:
            return False

    def exists(self, username: str) -> bool:
        """Whether a user of that name exists (disabled ones too)."""
        with self._lock:
            row = self.db.execute(
                "SELECT 1 FROM users WHERE username = ?", (username[:64],)
            ).fetchone()
        return row is not None

    def _failed(self, keys: tuple[str, ...], now: float) -> None:
        with self._lock, self.db:
            self.db.executemany(
                "INSERT INTO login_failures VALUES (?, ?)", [(k, now) for k in keys]
            )

    def _throttle(self, keys: tuple[str, ...], now: float) -> None:
        with self._lock, self.db:
            self.db.execute("DELETE FROM login_failures WHERE at < ?", (now - FAIL_WINDOW_S,))
            for key in keys:
                count, first = self.db.execute(
                    "SELECT COUNT(*), MIN(at) FROM login_failures WHERE key = ?", (key,)
                ).fetchone()
                if count >= MAX_FAILURES:
                    raise LoginThrottledError(max(1, int(first + FAIL_WINDOW_S - now) + 1))

    def _new_session(self, username: str, role: Role, must_change: bool, now: float) -> Session:
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        with self._lock, self.db:
            self.db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
            self.db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                (_sha(session_id), username, csrf, now, now + SESSION_S),
            )
        who = Principal(
            token_id=f"session:{_sha(session_id)[:12]}",
            role=role,
            label=username,
            expires_at=now + SESSION_S,
        )
        return Session(session_id, csrf, who, must_change, now + SESSION_S)

    def session(self, session_id: str, now: float) -> Session | None:
        """The live session for a cookie value, or None (unknown, expired, user disabled)."""
        if not session_id or len(session_id) > 128:
            return None
        digest = _sha(session_id)
        with self._lock:
            row = self.db.execute(
                "SELECT s.session_sha256, s.username, s.csrf, s.expires_at, u.role, u.must_change "
                "FROM sessions s JOIN users u ON u.username = s.username "
                "WHERE s.session_sha256 = ? AND u.disabled_at IS NULL",
                (digest,),
            ).fetchone()
        if row is None or not hmac.compare_digest(row[0], digest) or row[3] <= now:
            return None
        who = Principal(
            token_id=f"session:{digest[:12]}", role=Role(row[4]), label=row[1], expires_at=row[3]
        )
        return Session(session_id, row[2], who, bool(row[5]), row[3])

    def logout(self, session_id: str) -> None:
        with self._lock, self.db:
            self.db.execute("DELETE FROM sessions WHERE session_sha256 = ?", (_sha(session_id),))

    def change_password(
        self, username: str, old: str, new: str, client: str, now: float
    ) -> Session:
        """Change a password (the old one must match). Ends every session of the user and
        returns a new one. Wrong old passwords are throttled like failed logins."""
        keys = (f"user:{username[:64]}", f"client:{client[:64]}")
        self._throttle(keys, now)
        check_password_rules(new)
        if new == old:
            raise ValueError("the new password must differ from the old one")
        with self._lock:
            row = self.db.execute(
                "SELECT password_hash FROM users WHERE username = ? AND disabled_at IS NULL",
                (username,),
            ).fetchone()
        if row is None or len(old) > MAX_PASSWORD or not self._matches(row[0], old):
            self._failed(keys, now)
            raise LoginRefusedError("the current password is wrong")
        with self._lock, self.db:
            self.db.execute(
                "UPDATE users SET password_hash = ?, must_change = 0 WHERE username = ?",
                (self._hasher.hash(new), username),
            )
            self.db.execute("DELETE FROM sessions WHERE username = ?", (username,))
            role = self.db.execute(
                "SELECT role FROM users WHERE username = ?", (username,)
            ).fetchone()[0]
        return self._new_session(username, Role(role), False, now)
