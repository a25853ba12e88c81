"""Helpers shared by test modules (fixtures live in conftest.py files)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from civicsight.bench.uploads import (
    flat_png as bomb_png,  # one PNG maker for the tests and the bench
)
from civicsight.traffic import (
    CameraBin,
    CountBin,
    JourneyBin,
    OdBin,
    SpeedBin,
    TrafficQuery,
    TrafficRow,
    TurnBin,
    ZoneBin,
)

REPO = Path(__file__).resolve().parents[1]
__all__ = [
    "REPO",
    "RecordingPublisher",
    "RowsSource",
    "bomb_png",
    "media_dir",
    "media_file",
    "mirror",
    "serving",
]


def mirror(env: str, sub: str) -> Path:
    """An offline mirror folder: ``env`` if set, else ``../shared/<sub>`` beside the repo."""
    path = Path(os.environ.get(env) or REPO.parent / "shared" / sub).resolve()
    if not path.is_dir():
        pytest.fail(f"{sub} mirror {path} missing: set {env}")
    return path


def media_dir() -> Path:
    return mirror("CIVICSIGHT_MEDIA_MIRROR", "media")


def media_file(name: str) -> Path:
    path = media_dir() / name
    if not path.exists():
        pytest.fail(f"sample media {path} missing: set CIVICSIGHT_MEDIA_MIRROR")
    return path


@contextlib.contextmanager
def serving(app: Any, trusted_proxies: tuple[str, ...] = ()) -> Iterator[str]:
    """The app on a free port of 127.0.0.1, in a thread, set up as the API service sets up
    its server (``services.api.server``); yields its base URL."""
    from civicsight.services.api.server import api_server
    from civicsight.stack import free_port

    port = free_port()
    server = api_server(app, "127.0.0.1", port, trusted_proxies, "warning")
    thread = threading.Thread(target=server.run, name="test-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class RecordingPublisher:
    """A bus publisher that keeps what it was given (unit tests have no broker)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def publish(self, topic_name: str, key: str, event: Any) -> None:
        self.sent.append((topic_name, key, event))

    def flush(self, timeout: float = 10.0) -> None:
        pass

    def close(self, timeout: float = 10.0) -> None:
        pass


class RowsSource:
    """An in-memory ``civicsight.traffic.TrafficSource`` over lists of rows, filtered by
    the ``TrafficQuery`` as a store filters them (bins in ``[since, until)``, one camera:
    for journeys and OD as origin or destination, one class), in bin order.

    For the disclosure tests that need rows exactly as given (the recovery test's
    equalities between tables hold in these rows; a store computes journeys and OD from
    tracks). Route, page and command tests read a real store (``tests.traffic_data.fill``).
    ``queries`` keeps what was asked (the API must ask for whole bins, unfiltered)."""

    def __init__(self, rows: Iterable[TrafficRow] = ()) -> None:
        self.rows = list(rows)
        self.queries: list[TrafficQuery] = []

    def _pick(self, kind: type[Any], query: TrafficQuery) -> list[Any]:
        self.queries.append(query)
        out = []
        for r in self.rows:
            if not isinstance(r, kind) or not query.since <= r.bin_start < query.until:
                continue
            if query.cls is not None and getattr(r, "cls", query.cls) != query.cls:
                continue
            flows = isinstance(r, JourneyBin | OdBin)
            if query.camera is not None and query.camera not in (
                (r.origin, r.destination) if flows else (r.camera,)
            ):
                continue
            out.append(r)
        return sorted(out, key=lambda r: r.bin_start)

    def camera_bins(self, query: TrafficQuery) -> list[CameraBin]:
        return self._pick(CameraBin, query)

    def counts(self, query: TrafficQuery) -> list[CountBin]:
        return self._pick(CountBin, query)

    def zones(self, query: TrafficQuery) -> list[ZoneBin]:
        return self._pick(ZoneBin, query)

    def turns(self, query: TrafficQuery) -> list[TurnBin]:
        return self._pick(TurnBin, query)

    def speeds(self, query: TrafficQuery) -> list[SpeedBin]:
        return self._pick(SpeedBin, query)

    def journeys(self, query: TrafficQuery) -> list[JourneyBin]:
        return self._pick(JourneyBin, query)

    def od(self, query: TrafficQuery) -> list[OdBin]:
        return self._pick(OdBin, query)
