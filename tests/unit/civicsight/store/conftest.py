"""The store backends every contract test runs against: SQLite always, Elasticsearch
whenever CIVICSIGHT_ES_URL names a cluster (none can be installed on the CI machines, so
there the Elasticsearch backend is covered by the request-body tests in test_elastic.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from civicsight.store import TrackStore

BACKENDS = ["sqlite", "elastic"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrackStore]:
    if request.param == "sqlite":
        from civicsight.store.sqlite import SqliteTrackStore

        s: TrackStore = SqliteTrackStore(tmp_path / "tracks.db")
    else:
        url = os.environ.get("CIVICSIGHT_ES_URL")
        if not url:
            pytest.skip("CIVICSIGHT_ES_URL not set: no Elasticsearch cluster to test against")
        from civicsight.store.elastic import ElasticTrackStore

        s = ElasticTrackStore(url, prefix=f"cs-test-{uuid.uuid4().hex[:8]}", refresh=True)
    s.open()
    yield s
    if request.param == "elastic":
        s.drop()  # type: ignore[attr-defined]
    s.close()
