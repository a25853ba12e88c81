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
    UnknownUserError,
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


# ---- administration (issue 10): list, reset, disable, enable ---------------------------


def test_users_are_listed_without_secrets(users: UserStore) -> None:
    """Guards the admin's user list: every user with role, state and creation time, and
    nothing of the password."""
    users.add("ines", Role.INVESTIGATOR, T0)
    users.add("aud", Role.AUDITOR, T0 + 5)
    users.disable("aud", T0 + 10)
    listed = users.users()
    assert [(u.username, u.role, u.created_at, u.disabled_at, u.must_change) for u in listed] == [
        ("aud", Role.AUDITOR, T0 + 5, T0 + 10, True),
        ("ines", Role.INVESTIGATOR, T0, None, True),
    ]
    assert "argon2" not in repr(listed)
    assert users.user("ines") == listed[1] and users.user("nobody") is None


def test_a_reset_gives_a_new_one_time_password_and_ends_sessions(users: UserStore) -> None:
    """Guards a reset that leaves the old password working, lets the user skip changing
    the new one, or keeps a stolen session alive."""
    first = users.add("ines", Role.INVESTIGATOR, T0)
    session = users.login("ines", first, "10.0.0.1", T0)
    users.change_password("ines", first, "a long new passphrase", "10.0.0.1", T0 + 1)
    live = users.login("ines", "a long new passphrase", "10.0.0.1", T0 + 2)
    for _ in range(MAX_FAILURES):  # someone locked the name out
        with pytest.raises(LoginRefusedError):
            users.login("ines", "wrong guess!!", "10.0.0.2", T0 + 3)
    again = users.reset_password("ines")
    assert again != first and len(again) >= 20
    assert users.session(live.session_id, T0 + 4) is None
    assert users.session(session.session_id, T0 + 4) is None
    with pytest.raises(LoginRefusedError):
        users.login("ines", "a long new passphrase", "10.0.0.1", T0 + 5)
    fresh = users.login("ines", again, "10.0.0.3", T0 + 6)  # failures of the name forgotten
    assert fresh.must_change
    with pytest.raises(UnknownUserError):
        users.reset_password("nobody")


def test_a_disabled_user_cannot_sign_in_until_enabled(users: UserStore) -> None:
    """Guards disabling that leaves sessions alive or a way in, and enabling that loses
    the user's password."""
    secret = users.add("ines", Role.INVESTIGATOR, T0)
    session = users.login("ines", secret, "10.0.0.1", T0)
    assert users.disable("ines", T0 + 1) is True
    assert users.disable("ines", T0 + 2) is False  # already disabled: the first time stays
    assert users.user("ines").disabled_at == T0 + 1  # type: ignore[union-attr]
    assert users.session(session.session_id, T0 + 3) is None
    with pytest.raises(LoginRefusedError):
        users.login("ines", secret, "10.0.0.1", T0 + 4)
    assert users.enable("ines") is True and users.enable("ines") is False
    assert users.login("ines", secret, "10.0.0.1", T0 + 5).principal.label == "ines"
    for change in (users.enable, lambda name: users.disable(name, T0)):
        with pytest.raises(UnknownUserError):
            change("nobody")
