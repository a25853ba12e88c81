"""The traffic analyst's page in Debian's chromium against a real API (uvicorn) over a
demo-like day of traffic in a real SQLite store: the tables and charts render, withheld
values are hatched with a tooltip, camera-down bins show as gaps, a CSV downloads, and
nothing errs."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore
from tests.support import REPO, serving
from tests.traffic_data import cameras, demo_day, fill

from .conftest import ARTIFACTS, console_problems

pytestmark = pytest.mark.browser

DAY = time.time() // 86_400 * 86_400 - 2 * 86_400
DAY_TEXT = time.strftime("%Y-%m-%d", time.gmtime(DAY))


@dataclass(frozen=True)
class TrafficHub:
    url: str
    tokens: TokenStore
    trail: AuditLog


@pytest.fixture(scope="module")
def traffic_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrafficHub]:
    tmp = tmp_path_factory.mktemp("traffic-hub")
    tokens, trail = TokenStore(tmp / "auth.db"), AuditLog(tmp)
    tokens.open()
    trail.open()
    store = SqliteTrackStore(tmp / "tracks.db")
    fill(store, demo_day(DAY))
    state = ApiState(store=store, tokens=tokens, audit=trail, cameras=CameraRegistry(cameras()))
    try:
        with serving(create_app(state)) as url:
            yield TrafficHub(url, tokens, trail)
    finally:
        tokens.close()
        trail.close()


def open_day(page: Page, hub: TrafficHub, extra: str = "") -> None:
    token = hub.tokens.issue(Role.TRAFFIC_ANALYST, "ana")
    page.goto(f"{hub.url}/#token={token}")
    expect(page.locator("#role")).to_have_text("Traffic analyst")
    page.goto(f"{hub.url}/#/traffic?day={DAY_TEXT}{extra}")
    # the first answers protect the day's bins (seconds on a busy 2-core machine)
    expect(page.locator("#traffic-counts-table tbody tr")).to_have_count(96, timeout=60_000)


def test_the_analyst_sees_every_table_with_withheld_values_marked(
    page: Page, traffic_hub: TrafficHub
) -> None:
    """Guards the page losing a table, showing a withheld value as a number or a zero,
    drawing a dead camera's bins as zeros, or erring in the console (CSP included)."""
    problems = console_problems(page)
    page.emulate_media(reduced_motion="reduce")
    open_day(page, traffic_hub)
    expect(page.locator(".nav-link")).to_have_text(["Traffic"])
    for name in ("counts", "turning", "od", "zones", "speeds", "journeys"):
        expect(page.locator(f"#traffic-{name} h2")).to_be_visible()
        expect(page.locator(f"#traffic-{name} .empty")).to_have_count(0)
    withheld = page.locator("#traffic-counts-table td.withheld")
    expect(withheld.first).to_be_visible()
    assert withheld.count() > 10
    assert "fewer than 5" in (withheld.first.get_attribute("title") or "")
    assert withheld.first.inner_text().strip() == "withheld"  # for screen readers; no number
    expect(page.locator("#traffic-counts svg .withheld-mark").first).to_be_attached()
    expect(page.locator("#traffic-turning-matrix td.withheld, #traffic-turning-matrix td.partial")
           .first).to_be_visible()  # fmt: skip
    expect(page.locator("#traffic-od-matrix td").first).to_be_visible()
    expect(page.locator("#traffic-speeds svg circle.mid").first).to_be_attached()
    expect(page.locator("#traffic-journeys-table tbody tr")).to_have_count(96)

    page.select_option("#traffic-camera", "plaza")  # down 02:00-04:00
    page.select_option("#od-class", "person")
    page.select_option("#traffic-camera", "junction")  # down 13:00-13:45
    expect(page.locator("#traffic-counts-table td.down")).to_have_count(3 * 7)
    expect(page.locator("#traffic-counts svg rect.down")).to_have_count(3)
    assert "camera=junction" in page.url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "traffic-1366-junction.png"), full_page=True)

    with page.expect_download() as info:
        page.locator("#traffic-turning button.csv").click()
    download = info.value
    assert download.suggested_filename.startswith("traffic-turning-")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert rows and {r["camera"] for r in rows} == {"junction"}
    assert problems == []
    reads = [e.details for e in traffic_hub.trail.entries() if e.action == "traffic.read"]
    assert {d["table"] for d in reads} >= {"counts", "turning", "zones", "speeds", "od"}
    assert any(d["format"] == "csv" and d["camera"] == "junction" for d in reads)


@pytest.mark.parametrize(
    ("size", "camera"), [((1366, 768), "street"), ((1920, 1080), "")], ids=["desk", "wall"]
)
def test_the_page_fits_desks_and_walls(
    page: Page, traffic_hub: TrafficHub, size: tuple[int, int], camera: str
) -> None:
    """Guards a page wider than the screen (a sideways scroll bar) at 1366x768 and
    1920x1080, and a link's camera lost on loading; saves what it looks like (the wall's
    whole page is docs/traffic.png)."""
    problems = console_problems(page)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    open_day(page, traffic_hub, f"&camera={camera}" if camera else "")
    expect(page.locator("#traffic-camera")).to_have_value(camera)
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= size[0], scroll
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"traffic-{size[0]}.png"))
    page.screenshot(path=str(ARTIFACTS / f"traffic-{size[0]}-full.png"), full_page=True)
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 4000, height  # nothing hidden stretches the page
    if size[0] == 1920:
        page.screenshot(path=str(ARTIFACTS / "traffic-docs.png"), full_page=True,
                        clip={"x": 0, "y": 0, "width": 1920, "height": 1480})  # fmt: skip
    assert problems == []
    assert (REPO / "docs").is_dir()
