"""Shared fixtures: the offline media/model mirrors, the real embedded broker, and Debian's
chromium driven by Playwright (the UI and end-to-end tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from civicsight.bus import ensure_topics
from civicsight.stack import EmbeddedBroker
from tests.support import mirror

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
