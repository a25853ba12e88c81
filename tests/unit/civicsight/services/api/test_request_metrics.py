"""API request latency: every request timed by route *template*, method and status
class, on the real app (real SQLite and token stores) through FastAPI's TestClient."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from civicsight.audit import AuditLog
from civicsight.auth import TokenStore
from civicsight.cameras import CameraConfig
from civicsight.metrics import PrometheusMetrics
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.live import LiveView
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore

from .conftest import SECRET


@pytest.fixture
def timed(
    store: SqliteTrackStore,
    tokens: TokenStore,
    cameras: list[CameraConfig],
    trail: AuditLog,
) -> Iterator[tuple[TestClient, PrometheusMetrics]]:
    metrics = PrometheusMetrics()
    state = ApiState(
        store=store, tokens=tokens, audit=trail, cameras=CameraRegistry(cameras), live=LiveView()
    )
    with TestClient(create_app(state, allowed_hosts=["testserver"], metrics=metrics)) as c:
        yield c, metrics


def counts(metrics: PrometheusMetrics) -> dict[str, float]:
    """``route method status`` -> requests counted."""
    found = {}
    for line in metrics.exposition().decode().splitlines():
        m = re.match(r"civicsight_api_request_seconds_count\{(.*)\} (\S+)", line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            found[f"{labels['route']} {labels['method']} {labels['status']}"] = float(m.group(2))
    return found


@pytest.mark.parametrize(
    ("method", "path", "headers", "counted"),
    [
        ("GET", "/api/health", {}, "/api/health GET 2xx"),
        ("GET", "/api/tracks/t-secret-77?case=C-1&purpose=p", {}, "/api/tracks/{track_id} GET 4xx"),
        ("GET", "/api/no-such-route/t-secret-77", {}, "unmatched GET 4xx"),
        ("GET", "/api/health", {"host": "evil.example"}, "unmatched GET 4xx"),
        ("BREW", "/api/health", {}, "unmatched other 4xx"),
    ],
)
def test_requests_are_timed_by_route_template(
    timed: tuple[TestClient, PrometheusMetrics],
    method: str,
    path: str,
    headers: dict[str, str],
    counted: str,
) -> None:
    """Guards a request's own path (a track id, a search) as a label, a refused or
    unrouted request going uncounted, and an odd method growing the label's values."""
    client, metrics = timed
    client.request(method, path, headers=headers)
    assert counts(metrics) == {counted: 1.0}
    assert "t-secret-77" not in metrics.exposition().decode()
    assert SECRET not in metrics.exposition().decode()


def test_without_metrics_the_app_is_unchanged(
    store: SqliteTrackStore, tokens: TokenStore, cameras: list[CameraConfig], trail: AuditLog
) -> None:
    state = ApiState(
        store=store, tokens=tokens, audit=trail, cameras=CameraRegistry(cameras), live=LiveView()
    )
    with TestClient(create_app(state)) as client:
        assert client.get("/api/health").status_code == 200
