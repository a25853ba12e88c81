"""Bearer tokens: hashed at rest, verified in constant time, expiring, revocable, no
defaults; auth.db files from before token expiry are upgraded."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from civicsight.auth import MAX_TOKEN_DAYS, TOKEN_PREFIX, Principal, Role, TokenStore
from civicsight.auth_db import TOKEN_DAYS_DEFAULT


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TokenStore]:
    s = TokenStore(tmp_path / "auth.db")
    s.open()
    yield s
    s.close()


def db_bytes(path: Path) -> bytes:
    """The database with its journal/WAL files, as an attacker copying the folder sees it."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def test_raw_tokens_never_reach_the_database_file(store: TokenStore) -> None:
    """Guards storing tokens in clear: a copy of auth.db (a backup, a leaked volume) must
    not let anyone in. Only the SHA-256 is kept."""
    issued = [store.issue(role, f"desk {role.value}") for role in Role]
    path = store.path
    store.close()
    raw = db_bytes(path)
    for token in issued:
        assert token.encode() not in raw
        assert token[len(TOKEN_PREFIX) :].encode() not in raw
        assert hashlib.sha256(token.encode()).hexdigest().encode() in raw
    store.open()


def test_tokens_are_random_prefixed_and_unique(store: TokenStore) -> None:
    """Guards predictable or short tokens (and the cs_ prefix secret scanners look for)."""
    tokens = {store.issue(Role.TRAFFIC_ANALYST, "x") for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert token.startswith(TOKEN_PREFIX)
        assert len(token) >= len(TOKEN_PREFIX) + 43  # token_urlsafe(32): 256 random bits


@pytest.mark.parametrize("role", list(Role))
def test_verify_returns_role_and_label(store: TokenStore, role: Role) -> None:
    """Guards a verified token carrying the wrong role (privilege mix-up)."""
    other = store.issue(Role.ADMIN if role is not Role.ADMIN else Role.TRAFFIC_ANALYST, "other")
    token = store.issue(role.value, f"  {role.value} desk  ")
    who = store.verify(token)
    assert isinstance(who, Principal)
    assert who.role is role and who.label == f"{role.value} desk"
    assert who.token_id and who.token_id not in token
    assert store.verify(other) != who


def test_roles_are_the_documented_ones() -> None:
    """Guards a role added without review (README: Users and roles)."""
    assert {r.value for r in Role} == {
        "viewer",
        "operator",
        "investigator",
        "traffic_analyst",
        "auditor",
        "admin",
    }


@pytest.mark.parametrize(
    "make_bad",
    [
        lambda t: "",
        lambda t: TOKEN_PREFIX,
        lambda t: t[:-1],
        lambda t: t + "x",
        lambda t: t.upper(),
        lambda t: " " + t,
        lambda t: "Bearer " + t,
        lambda t: t[len(TOKEN_PREFIX) :],
        lambda t: hashlib.sha256(t.encode()).hexdigest(),  # the stored hash is no password
        lambda t: TOKEN_PREFIX + "A" * 43,
        lambda t: TOKEN_PREFIX + "x" * 100_000,
        lambda t: "admin",
    ],
    ids=[
        "empty",
        "prefix",
        "truncated",
        "extended",
        "upper",
        "leading-space",
        "with-scheme",
        "unprefixed",
        "hash",
        "made-up",
        "huge",
        "admin",
    ],
)
def test_unknown_tokens_are_rejected(store: TokenStore, make_bad: object) -> None:
    """Guards prefix/substring matches, case folding, or accepting the stored hash itself."""
    token = store.issue(Role.VIEWER, "desk")
    assert store.verify(make_bad(token)) is None  # type: ignore[operator]


def test_no_token_verifies_before_one_is_issued(store: TokenStore) -> None:
    """Guards default credentials: a fresh data dir has no token, so nothing verifies."""
    assert store.count_active() == 0 and store.issued() == []
    for guess in ("", "cs_", "cs_admin", "admin", "admin:admin"):
        assert store.verify(guess) is None


def test_revoke(store: TokenStore) -> None:
    """Guards revocation that does not take effect, revokes the wrong token, or reports
    success twice."""
    keep = store.issue(Role.VIEWER, "keep")
    drop = store.issue(Role.INVESTIGATOR, "drop")
    who = store.verify(drop)
    assert who is not None
    assert store.revoke(who.token_id) is True
    assert store.verify(drop) is None
    assert store.verify(keep) is not None
    assert store.revoke(who.token_id) is False
    assert store.revoke("no-such-id") is False
    assert store.count_active() == 1
    listed = {t.token_id: t for t in store.issued()}
    assert listed[who.token_id].revoked_at is not None


def test_tokens_survive_reopening(tmp_path: Path) -> None:
    """Guards tokens kept only in memory (every restart would lock everyone out)."""
    s = TokenStore(tmp_path / "auth.db")
    s.open()
    token = s.issue(Role.ADMIN, "admin")
    s.close()
    s2 = TokenStore(tmp_path / "auth.db")
    s2.open()
    try:
        assert s2.verify(token) is not None
    finally:
        s2.close()


def test_database_is_private_to_its_owner(store: TokenStore) -> None:
    """Guards a world-readable auth.db (hashes are still worth protecting)."""
    mode = stat.S_IMODE(store.path.stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)


def test_verify_compares_hashes_in_constant_time(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards a regression to == on secrets (timing side channel)."""
    token = store.issue(Role.ADMIN, "admin")
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("civicsight.auth.hmac.compare_digest", spy)
    assert store.verify(token) is not None
    assert calls == [(hashlib.sha256(token.encode()).hexdigest(),) * 2]


@pytest.mark.parametrize(
    ("role", "label"),
    [
        ("root", "x"),
        ("Admin", "x"),
        ("", "x"),
        ("admin", ""),
        ("admin", "   "),
        ("admin", "a\nb"),
        ("admin", "x" * 121),
    ],
)
def test_issue_refuses_bad_role_or_label(store: TokenStore, role: str, label: str) -> None:
    """Guards tokens with made-up roles, and labels that forge log lines."""
    with pytest.raises(ValueError):
        store.issue(role, label)
    assert store.issued() == []


def test_store_must_be_open(tmp_path: Path) -> None:
    """Guards silent failures when main() forgot to open the store."""
    with pytest.raises(RuntimeError, match="not open"):
        TokenStore(tmp_path / "auth.db").verify("cs_x")


DAY = 86_400.0
T0 = 1_800_000_000.0


@pytest.mark.parametrize(
    ("ttl_s", "age_s", "valid"),
    [
        (TOKEN_DAYS_DEFAULT * DAY, 0.0, True),
        (TOKEN_DAYS_DEFAULT * DAY, TOKEN_DAYS_DEFAULT * DAY - 1, True),
        (TOKEN_DAYS_DEFAULT * DAY, TOKEN_DAYS_DEFAULT * DAY, False),
        (TOKEN_DAYS_DEFAULT * DAY, 400 * DAY, False),
        (12 * 3600.0, 11 * 3600.0, True),  # the demo's token: hours, not for ever
        (12 * 3600.0, 13 * 3600.0, False),
    ],
)
def test_tokens_expire(store: TokenStore, ttl_s: float, age_s: float, valid: bool) -> None:
    """Guards tokens that live for ever (finding 6 of the outside probe)."""
    token = store.issue(Role.INVESTIGATOR, "desk", ttl_s, now=T0)
    assert (store.verify(token, now=T0 + age_s) is not None) is valid
    assert store.count_active(now=T0 + age_s) == int(valid)
    (info,) = store.issued()
    assert info.expires_at == T0 + ttl_s and info.live(T0 + age_s) is valid


def test_a_token_issued_without_a_lifetime_gets_the_default(store: TokenStore) -> None:
    store.issue(Role.VIEWER, "wall", now=T0)
    assert store.issued()[0].expires_at == T0 + TOKEN_DAYS_DEFAULT * DAY


@pytest.mark.parametrize("ttl_s", [0.0, -1.0, (MAX_TOKEN_DAYS + 1) * DAY, float("inf")])
def test_issue_refuses_a_lifetime_out_of_range(store: TokenStore, ttl_s: float) -> None:
    """Guards a token that never expires through a huge or infinite lifetime."""
    with pytest.raises(ValueError, match="at most"):
        store.issue(Role.ADMIN, "admin", ttl_s)
    assert store.issued() == []


OLD_AUTH_DB = """
CREATE TABLE tokens (token_id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL, label TEXT NOT NULL, created_at REAL NOT NULL, revoked_at REAL);
CREATE TABLE users (username TEXT PRIMARY KEY, role TEXT NOT NULL,
  password_hash TEXT NOT NULL, must_change INTEGER NOT NULL, created_at REAL NOT NULL,
  disabled_at REAL);
INSERT INTO users VALUES ('vera', 'viewer', 'argon2-hash', 0, 1.0, NULL);
"""


def test_an_auth_db_from_before_expiry_is_upgraded_and_its_old_tokens_expire(
    tmp_path: Path,
) -> None:
    """Guards the first schema change stranding an existing data dir, and tokens issued
    before expiry existed staying valid for ever."""
    path = tmp_path / "auth.db"
    old = sqlite3.connect(path)
    old.executescript(OLD_AUTH_DB)
    now = time.time()
    made = {"fresh": now - DAY, "stale": now - 40 * DAY}
    tokens = {}
    for label, created in made.items():
        token = f"{TOKEN_PREFIX}{label}-{'x' * 40}"
        digest = hashlib.sha256(token.encode()).hexdigest()
        old.execute(
            "INSERT INTO tokens VALUES (?, ?, 'viewer', ?, ?, NULL)",
            (label, digest, label, created),
        )
        tokens[label] = token
    old.commit()
    old.close()

    store = TokenStore(path)
    store.open()
    try:
        assert store.verify(tokens["fresh"]) is not None
        assert store.verify(tokens["stale"]) is None
        assert {t.token_id: t.expires_at for t in store.issued()} == {
            k: v + TOKEN_DAYS_DEFAULT * DAY for k, v in made.items()
        }
        assert store.db.execute("SELECT username FROM users").fetchall() == [("vera",)]
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        store.close()


def test_issue_listed_returns_the_token_as_listed(store: TokenStore) -> None:
    """Guards the admin page's issue: the new token's public id (for the audit log and a
    later revocation) is the one the list shows, and get() never returns the hash."""
    token, info = store.issue_listed(Role.AUDITOR, "audit desk", ttl_s=3600, now=1000.0)
    assert store.issued() == [info]
    assert (info.role, info.label, info.created_at, info.expires_at) == (
        Role.AUDITOR,
        "audit desk",
        1000.0,
        4600.0,
    )
    assert store.get(info.token_id) == info and store.get("0" * 16) is None
    assert hashlib.sha256(token.encode()).hexdigest() not in repr(store.get(info.token_id))
    store.revoke(info.token_id, now=2000.0)
    revoked = store.get(info.token_id)
    assert revoked is not None and revoked.revoked_at == 2000.0 and not revoked.live(2001.0)
