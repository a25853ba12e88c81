"""Counts and flows for traffic analysts over the API: whole settled bins only, so the
differencing attack of the outside probe (finding 4) recovers nothing finer than a bin.
Real SQLite store, FastAPI's TestClient."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.events import TrackletRef, TrackUpdate
from civicsight.services.api.app import create_app
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore

DAY = 86_400.0
MIDNIGHT = time.time() // DAY * DAY - 2 * DAY  # two days ago: every bin of it is settled
NIGHT_CARS = [MIDNIGHT + 3600 + 17 * k for k in range(7)]  # 01:00:00 .. 01:01:42


def car(n: int, first: float, cameras: tuple[str, ...] = ("cam-a",)) -> TrackUpdate:
    return TrackUpdate(
        track_id=f"g-{n:015x}",
        version=1,
        cls="car",
        tracklets=tuple(
            TrackletRef(camera_id=c, track_id=n * 10 + i, first_seen=first, last_seen=first + 5)
            for i, c in enumerate(cameras)
        ),
        first_seen=first,
        last_seen=first + 5,
        closed=True,
        emitted_at=first + 6,
    )


@pytest.fixture
def client(tmp_path: Path, tokens: TokenStore, trail: AuditLog) -> Iterator[TestClient]:
    store = SqliteTrackStore(tmp_path / "tracks.db")
    store.open()
    for n, first in enumerate(NIGHT_CARS):
        store.upsert(car(n, first), stored_at=first + 10)
    app = create_app(ApiState(store=store, tokens=tokens, audit=trail))
    token = tokens.issue(Role.TRAFFIC_ANALYST, "ana")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as c:
        yield c
    store.close()


def counts(client: TestClient, **params: float) -> list[tuple[float, int | None]]:
    resp = client.get("/api/aggregates", params=params)
    assert resp.status_code == 200, resp.text
    return [(r["bucket_start"], r["count"]) for r in resp.json()["counts"]]


@pytest.mark.parametrize("bucket_s", [86_400, 3600, 900])
def test_moving_until_in_10_s_steps_recovers_nothing_finer_than_a_bin(
    client: TestClient, bucket_s: int
) -> None:
    """The probe's attack: 31 requests, ``until`` moved in 10 s steps across the minute
    the night's cars were first seen. Before the fix the count went null -> 5 -> 6 -> 7,
    each step pinning one car to ten seconds. Now every answer covers whole bins that
    ended before ``until``: the same answer for every step inside one bin."""
    since = MIDNIGHT - DAY + 1
    answers = [
        counts(client, since=since, until=NIGHT_CARS[0] - 100 + 10 * step, bucket_s=bucket_s)
        for step in range(31)
    ]
    distinct = {tuple(a) for a in answers}
    assert len(distinct) == 1, distinct
    for rows in answers:  # the bin holding the cars has not ended at any of these times
        assert all(start + bucket_s <= NIGHT_CARS[0] - 100 + 300 for start, _ in rows)


def test_a_bin_is_published_whole_once_it_is_over(client: TestClient) -> None:
    """The same cars, asked once their hour is over: one row, all seven."""
    rows = counts(client, since=MIDNIGHT, until=MIDNIGHT + 2 * 3600, bucket_s=3600)
    assert rows == [(MIDNIGHT + 3600, 7)]
    # the same hour from any window inside later hours: the same number
    later = counts(client, since=MIDNIGHT + 3601, until=MIDNIGHT + 5 * 3600 + 7, bucket_s=3600)
    assert later == [(MIDNIGHT + 3600, 7)]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"bucket_s": 60}, "bin length 60 s is not allowed"),
        ({"bucket_s": 1000}, "not allowed"),
        ({"until": "inf"}, "until"),
        ({"until": "1e309"}, "until"),
        ({"until": "nan"}, "until"),
        ({"since": "-5"}, "since"),
    ],
)
def test_bad_windows_are_400(client: TestClient, params: dict[str, object], needle: str) -> None:
    resp = client.get("/api/aggregates", params={"since": MIDNIGHT, **params})
    assert resp.status_code == 400 and needle in resp.json()["detail"], resp.text


def test_the_running_bin_is_not_published(client: TestClient) -> None:
    """Guards polling the current bin: its count would grow car by car."""
    now = time.time()
    body = client.get("/api/aggregates", params={"since": now - 3 * 3600, "bucket_s": 900}).json()
    assert body["until"] <= now - 120 and body["until"] % 900 == 0
