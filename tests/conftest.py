"""Shared fixtures: the offline media/model mirrors and the real embedded broker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from civicsight.bus import ensure_topics
from civicsight.stack import EmbeddedBroker

REPO = Path(__file__).resolve().parents[1]


def _mirror(env: str, sub: str) -> Path:
    path = Path(os.environ.get(env) or REPO.parent / "shared" / sub)
    if not path.is_dir():
        pytest.fail(f"{sub} mirror {path} missing: set {env}")
    return path


@pytest.fixture(scope="session")
def media_mirror() -> Path:
    return _mirror("CIVICSIGHT_MEDIA_MIRROR", "media")


@pytest.fixture(scope="session")
def model_mirror() -> Path:
    return _mirror("CIVICSIGHT_MODEL_MIRROR", "models")


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real tansu broker (memory storage) with the hub's topics, shared by a session."""
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_file=log) as broker:
        config = {"bootstrap.servers": broker.bootstrap}
        ensure_topics(config)
        yield config
