"""The API's HTTP server as the service runs it (``services.api.server``): forwarded
headers only from trusted proxies, no server banner, a Host allowlist. Real uvicorn."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from civicsight.audit import AuditLog
from civicsight.auth import TokenStore
from civicsight.services.api.app import create_app
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.users import MAX_FAILURES, UserStore
from tests.support import serving


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SqliteTrackStore, TokenStore, UserStore, AuditLog]]:
    parts = (
        SqliteTrackStore(tmp_path / "tracks.db"),
        TokenStore(tmp_path / "auth.db"),
        UserStore(tmp_path / "auth.db"),
        AuditLog(tmp_path),
    )
    for p in parts:
        p.open()
    yield parts
    for p in parts:
        p.close()


@pytest.mark.parametrize(
    ("trusted", "forwarded_counts"),
    [((), False), (("127.0.0.1",), True)],
    ids=["no-proxy-configured", "proxy-configured"],
)
def test_forwarded_addresses_count_only_from_trusted_proxies(
    stores: tuple[SqliteTrackStore, TokenStore, UserStore, AuditLog],
    trusted: tuple[str, ...],
    forwarded_counts: bool,
) -> None:
    """Finding 8: with 127.0.0.1 locked out (429), logins carrying X-Forwarded-For were
    processed and the audit log recorded the forged address, because uvicorn believes
    forwarded headers from 127.0.0.1 by default."""
    store, tokens, users, trail = stores
    users.add("ana", "viewer", time.time())
    app = create_app(ApiState(store=store, tokens=tokens, audit=trail, users=users))
    with serving(app, trusted) as url, httpx.Client(base_url=url) as c:
        for n in range(MAX_FAILURES):  # lock out 127.0.0.1 with other user names
            c.post("/api/auth/login", json={"username": f"nobody{n}", "password": "x"})
        forged = {"X-Forwarded-For": "203.0.113.9"}
        resp = c.post("/api/auth/login", json={"username": "ana", "password": "x"}, headers=forged)
    if forwarded_counts:  # a configured proxy: the forwarded client is another client
        assert resp.status_code == 401
        assert trail.entries()[-1].details["client"] == "203.0.113.9"
    else:
        assert resp.status_code == 429
        assert {e.details["client"] for e in trail.entries()} == {"127.0.0.1"}


def test_no_server_banner_and_hosts_outside_the_allowlist_are_refused(
    stores: tuple[SqliteTrackStore, TokenStore, UserStore, AuditLog],
) -> None:
    """Finding 9: the ``server: uvicorn`` banner, and no Host allowlist (DNS rebinding)."""
    store, tokens, _users, trail = stores
    app = create_app(ApiState(store=store, tokens=tokens, audit=trail), allowed_hosts=["127.0.0.1"])
    with serving(app) as url:
        ok = httpx.get(url + "/api/health")
        evil = httpx.get(url + "/api/health", headers={"Host": "attacker.example"})
    assert ok.status_code == 200 and "server" not in ok.headers
    assert evil.status_code == 400 and "server" not in evil.headers
