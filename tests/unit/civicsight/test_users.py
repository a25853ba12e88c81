"""Users, sessions and login throttling on a real SQLite file, with a moved clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from civicsight.auth import Role
from civicsight.users import (
    FAIL_WINDOW_S,
    MAX_FAILURES,
    SESSION_S,
    LoginRefusedError,
    LoginThrottledError,
    UserStore,
)

T0 = 1_800_000_000.0


@pytest.fixture
def users(tmp_path: Path) -> Iterator[UserStore]:
    store = UserStore(tmp_path / "auth.db")
    store.open()
    yield store
    store.close()


def test_first_start_creates_one_admin_with_a_one_time_password(users: UserStore) -> None:
    """Guards 'no default credentials': the secret is random, shown once, must be changed."""
    secret = users.ensure_first_admin(T0)
    assert secret and len(secret) >= 20
    assert users.ensure_first_admin(T0) is None  # only on a hub without users
    session = users.login("admin", secret, "10.0.0.1", T0)
    assert session.must_change and session.principal.role is Role.ADMIN
    renewed = users.change_password("admin", secret, "a long new passphrase", "10.0.0.1", T0 + 1)
    assert not renewed.must_change
    assert users.session(session.session_id, T0 + 2) is None  # old sessions end
    with pytest.raises(LoginRefusedError):
        users.login("admin", secret, "10.0.0.1", T0 + 3)  # the one-time secret is spent


def test_password_is_stored_only_as_an_argon2_hash(users: UserStore, tmp_path: Path) -> None:
    secret = users.add("ines", Role.INVESTIGATOR, T0)
    raw = (tmp_path / "auth.db").read_bytes()
    assert secret.encode() not in raw and b"$argon2id$" in raw


@pytest.mark.parametrize(
    ("attempts", "then_right_password", "expected"),
    [
        (MAX_FAILURES - 1, True, "ok"),
        (MAX_FAILURES, True, "throttled"),  # the right password is refused too
    ],
)
def test_login_throttling(
    users: UserStore, attempts: int, then_right_password: bool, expected: str
) -> None:
    """Guards against password guessing: after MAX_FAILURES wrong tries in the window the
    user is locked out for the rest of the window, then may try again."""
    secret = users.add("vera", Role.VIEWER, T0)
    for i in range(attempts):
        with pytest.raises(LoginRefusedError):
            users.login("vera", "wrong password", "10.0.0.9", T0 + i)
    if expected == "ok":
        assert users.login("vera", secret, "10.0.0.9", T0 + attempts).principal.label == "vera"
        return
    with pytest.raises(LoginThrottledError) as err:
        users.login("vera", secret, "10.0.0.9", T0 + attempts)
    assert 1 <= err.value.retry_after <= FAIL_WINDOW_S + 1
    assert users.login("vera", secret, "10.0.0.9", T0 + FAIL_WINDOW_S + 10)


def test_failures_from_one_address_throttle_every_user_there(users: UserStore) -> None:
    """Guards against spraying one password over many user names from one address."""
    for i in range(MAX_FAILURES):
        with pytest.raises(LoginRefusedError):
            users.login(f"nobody{i}", "guess", "10.6.6.6", T0 + i)
    secret = users.add("ana", Role.TRAFFIC_ANALYST, T0)
    with pytest.raises(LoginThrottledError):
        users.login("ana", secret, "10.6.6.6", T0 + 10)
    assert users.login("ana", secret, "10.0.0.2", T0 + 10)  # another address is fine


@pytest.mark.parametrize(
    ("offset", "alive"), [(0, True), (SESSION_S - 1, True), (SESSION_S, False)]
)
def test_sessions_expire(users: UserStore, offset: float, alive: bool) -> None:
    secret = users.add("ivo", Role.AUDITOR, T0)
    session = users.login("ivo", secret, "10.0.0.3", T0)
    found = users.session(session.session_id, T0 + offset)
    assert (found is not None) is alive
    if found:
        assert found.csrf == session.csrf and found.principal.role is Role.AUDITOR


@pytest.mark.parametrize(
    ("name", "new", "error"),
    [
        ("ok", "correct horse battery", None),
        ("short", "short", "12 to 256"),
        ("same", None, "differ"),
    ],
)
def test_password_rules(users: UserStore, name: str, new: str | None, error: str | None) -> None:
    secret = users.add(f"user-{name}", Role.VIEWER, T0)
    if error is None:
        assert users.change_password(f"user-{name}", secret, new or "", "10.0.0.1", T0)
    else:
        with pytest.raises(ValueError, match=error):
            users.change_password(f"user-{name}", secret, new or secret, "10.0.0.1", T0)
