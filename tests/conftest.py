"""Shared fixtures: the offline media/model mirrors and the real embedded broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from civicsight.bus import ensure_topics
from civicsight.stack import EmbeddedBroker
from tests.support import mirror

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def media_mirror() -> Path:
    return mirror("CIVICSIGHT_MEDIA_MIRROR", "media")


@pytest.fixture(scope="session")
def model_mirror() -> Path:
    return mirror("CIVICSIGHT_MODEL_MIRROR", "models")


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real tansu broker (memory storage) with the hub's topics, shared by a session."""
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_file=log) as broker:
        config = {"bootstrap.servers": broker.bootstrap}
        ensure_topics(config)
        yield config
