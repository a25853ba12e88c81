"""The public transparency page and its data: no sign-in, aggregates only, the same security
headers as every page, and computed at most once a minute however often it is asked for.
Real SQLite stores and audit log, searches made through the API itself."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.cameras import CameraConfig
from civicsight.services.api.app import SECURITY_HEADERS, create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.state import ApiState
from civicsight.services.api.transparency_routes import Cached
from civicsight.store.sqlite import SqliteTrackStore

from .conftest import SECRET

CASE, USER, PLATE = "C-PLANTED-4411", "ines.planted", "AB123CD"


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


def searches(client: TestClient, tokens: TokenStore, n: int) -> None:
    """``n`` plate searches by an investigator under a planted case, user and plate."""
    who = {"Authorization": f"Bearer {tokens.issue(Role.INVESTIGATOR, USER)}"}
    why = {"case": CASE, "purpose": f"van {PLATE} seen at the harbour", "category": "theft"}
    for _ in range(n):
        resp = client.get("/api/search/plates", params={**why, "pattern": PLATE}, headers=who)
        assert resp.status_code == 200, resp.text


def test_the_data_answers_signed_out_with_aggregates_only(
    client: TestClient, tokens: TokenStore, trail: AuditLog
) -> None:
    """Guards the public data: reachable without credentials, counts suppressed below 5,
    and none of what the searches were about (case, user, plate, purpose) nor a camera's
    credentials in it; reading it writes nothing to the audit log."""
    searches(client, tokens, 6)
    before = len(trail.entries())
    resp = client.get("/api/transparency")
    assert resp.status_code == 200, resp.text
    assert len(trail.entries()) == before
    body = resp.json()
    month = body["searches"][0]
    assert month["by_category"]["theft"] == 6
    assert month["by_category"]["violence"] == 0
    assert body["watchlist_entries"] == 0 and body["suppressed_as"] == "< 5"
    assert [c["id"] for c in body["cameras"]] == ["cam-a", "cam-b"]
    assert body["cameras"][0]["analytics"] == ["detect"]
    for planted in (CASE, USER, PLATE, "harbour", SECRET, "10.0.0.5", "rtsp"):
        assert planted not in resp.text, planted
    assert resp.headers["cache-control"] == "public, max-age=60"
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers[name] == value


def test_a_small_count_reads_less_than_five(client: TestClient, tokens: TokenStore) -> None:
    searches(client, tokens, 2)
    body = client.get("/api/transparency").json()
    assert body["searches"][0]["by_category"]["theft"] == "< 5"


def test_the_page_is_public_static_and_has_no_inline_script(client: TestClient) -> None:
    """Guards the page needing a sign-in, or needing the CSP loosened for inline code."""
    resp = client.get("/transparency")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    assert resp.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    html = resp.text
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and all('src="/static/' in s for s in scripts)
    assert re.search(r"<script[^>]*>\s*[^<\s]", html) is None  # no inline code
    assert " style=" not in html and " on" + "click=" not in html
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(src).status_code == 200, src


def test_the_figures_are_computed_at_most_once_a_minute(
    client: TestClient, tokens: TokenStore
) -> None:
    """Guards a public route that makes the API count the audit log on every request."""
    searches(client, tokens, 5)
    first = client.get("/api/transparency").json()
    searches(client, tokens, 5)
    again = client.get("/api/transparency").json()
    assert again == first  # served from memory


def test_the_cache_expires() -> None:
    now = [0.0]
    cache: Cached[int] = Cached(60.0, clock=lambda: now[0])
    made: list[int] = []

    def compute() -> int:
        made.append(1)
        return len(made)

    assert cache.get(compute) == 1
    now[0] = 59.9
    assert cache.get(compute) == 1
    now[0] = 60.0
    assert cache.get(compute) == 2
