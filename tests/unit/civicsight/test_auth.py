"""Bearer tokens: hashed at rest, verified in constant time, revocable, no defaults."""

from __future__ import annotations

import hashlib
import hmac
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from civicsight.auth import TOKEN_PREFIX, Principal, Role, TokenStore, issue_token_cli


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


def test_roles_are_the_four_documented_ones() -> None:
    """Guards a role added without review."""
    assert {r.value for r in Role} == {
        "viewer",
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


def test_issue_token_cli_prints_only_the_token_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Guards `civicsight token` output that scripts cannot capture, or a token that does
    not work with the API's store (wrong data dir or file)."""
    token = issue_token_cli(tmp_path / "data", "investigator", "case desk 4")
    out, err = capsys.readouterr()
    assert out == token + "\n"
    assert token not in err and "investigator" in err
    s = TokenStore(tmp_path / "data" / "auth.db")
    s.open()
    try:
        who = s.verify(token)
    finally:
        s.close()
    assert who is not None and who.role is Role.INVESTIGATOR and who.label == "case desk 4"
    assert who.token_id in err


def test_issue_token_cli_names_the_roles_on_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Guards a cryptic error (or a token issued anyway) for a mistyped role."""
    with pytest.raises(ValueError, match="viewer, investigator, traffic_analyst, auditor, admin"):
        issue_token_cli(tmp_path, "superuser", "x")
    assert capsys.readouterr().out == ""
    assert not (tmp_path / "auth.db").exists()
