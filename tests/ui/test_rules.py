"""Drawing counting lines and zones in the browser and saving them to the camera file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, expect

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.cameras import load_cameras
from civicsight.events import RuleHit
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.live import LiveView
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore
from tests.support import media_file, serving

from .conftest import ARTIFACTS, ClipFrame, Feeder, load_clip

pytestmark = pytest.mark.browser
TIMEOUT_MS = 15_000
FRAME_SHOWN = (
    "() => { const i = document.querySelector('.rules-frame'); return i && i.naturalWidth > 0; }"
)
CAMERA = """# the harbour camera (comment kept)
id: junction-north
name: Junction North
source: media:car-detection.mp4
fps: 5
position: {x_m: 0, y_m: 0}
"""


@dataclass
class RulesHub:
    url: str
    folder: Path
    tokens: TokenStore
    live: LiveView
    trail: AuditLog


@pytest.fixture(scope="module")
def clip() -> list[ClipFrame]:
    return load_clip(media_file("car-detection.mp4"))


@pytest.fixture
def rules_hub(tmp_path: Path, clip: list[ClipFrame]) -> Iterator[RulesHub]:
    folder = tmp_path / "cameras"
    folder.mkdir()
    (folder / "junction-north.yaml").write_text(CAMERA)
    harbour = CAMERA.replace("junction-north", "harbour-sim").replace("Junction", "Harbour")
    (folder / "harbour-sim.yaml").write_text(harbour)
    store, tokens, trail = (
        SqliteTrackStore(tmp_path / "t.db"), TokenStore(tmp_path / "auth.db"), AuditLog(tmp_path)
    )  # fmt: skip
    for part in (store, tokens, trail):
        part.open()
    live = LiveView()
    feeder = Feeder(live, clip)
    feeder.thread.start()
    app = create_app(
        ApiState(
            store=store,
            tokens=tokens,
            audit=trail,
            cameras=CameraRegistry(load_cameras(folder), folder),
            live=live,
        )
    )
    try:
        with serving(app) as url:
            yield RulesHub(url, folder, tokens, live, trail)
    finally:
        feeder.stop.set()
        feeder.thread.join(5)
        for part in (store, tokens, trail):
            part.close()


def sign_in(page: Page, hub: RulesHub, token: str) -> None:
    page.goto(f"{hub.url}/#token={token}")
    expect(page.locator(".nav-link.active")).to_be_visible()  # signed in, home page shown


def click_at(page: Page, fractions: list[tuple[float, float]]) -> None:
    """Clicks points of the frame given as fractions of the image."""
    box = page.evaluate(
        """() => {
          const img = document.querySelector('.rules-frame');
          const b = img.getBoundingClientRect();
          const s = Math.min(b.width / img.naturalWidth, b.height / img.naturalHeight);
          const w = img.naturalWidth * s, h = img.naturalHeight * s;
          return {x: b.left + (b.width - w) / 2, y: b.top + (b.height - h) / 2, w, h};
        }"""
    )
    for fx, fy in fractions:
        page.mouse.click(box["x"] + box["w"] * fx, box["y"] + box["h"] * fy)


def test_an_admin_draws_a_line_and_a_zone_and_saves_them(page: Page, rules_hub: RulesHub) -> None:
    """Guards rules that the page shows but never reach the camera file (or land with the
    wrong coordinates, or wipe the file's other fields), and an unaudited change."""
    token = rules_hub.tokens.issue(Role.ADMIN, "ops admin")
    sign_in(page, rules_hub, token)
    page.goto(f"{rules_hub.url}/#/rules/junction-north")
    page.wait_for_function(FRAME_SHOWN)
    page.click("#add-line")
    click_at(page, [(0.1, 0.5), (0.9, 0.5)])
    page.click("#finish-shape")
    page.click("#add-zone")
    click_at(page, [(0.2, 0.1), (0.4, 0.1), (0.4, 0.3)])
    page.keyboard.press("Enter")
    line_name = page.locator('.rule-item[data-rule-id="line-1"] input').first
    line_name.fill("Harbour gate")
    line_name.press("Tab")
    expect(page.locator("#rules-hint")).to_have_text("Unsaved changes.")
    page.click("#rules-save")
    expect(page.locator("#rules-hint")).to_have_text("Saved rules of this camera.")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "rules.png"))

    saved = yaml.safe_load((rules_hub.folder / "junction-north.yaml").read_text())
    assert saved["name"] == "Junction North" and saved["fps"] == 5  # the rest kept
    (line,) = saved["rules"]["lines"]
    (zone,) = saved["rules"]["zones"]
    assert line["name"] == "Harbour gate" and (line["to_right"], line["to_left"]) == ("in", "out")
    assert [[round(v, 2) for v in p] for p in line["points"]] == [[0.1, 0.5], [0.9, 0.5]]
    assert [[round(v, 2) for v in p] for p in zone["polygon"]] == [[0.2, 0.1], [0.4, 0.1],
                                                                   [0.4, 0.3]]  # fmt: skip
    (entry,) = rules_hub.trail.entries(action="camera.rules")
    assert entry.actor == "ops admin" and entry.details["camera"] == "junction-north"

    # the page reloads what was saved, and hits of the camera appear live
    page.reload()
    expect(page.locator(".rule-item")).to_have_count(2)
    time.sleep(2.5)  # the page's first poll sets its cursor
    assert rules_hub.live is not None
    rules_hub.live.rule_hits.add(
        RuleHit(camera_id="junction-north", track_id=3, captured_at=time.time(),
                rule_id="line-1", rule_kind="line", action="cross", direction="in",
                cls="car", seq=1)
    )  # fmt: skip
    expect(page.locator('.rules-hit[data-rule-id="line-1"]')).to_contain_text("car crossed (in)")


def test_a_shape_with_too_few_points_is_refused_on_screen(page: Page, rules_hub: RulesHub) -> None:
    token = rules_hub.tokens.issue(Role.ADMIN, "ops admin")
    sign_in(page, rules_hub, token)
    page.goto(f"{rules_hub.url}/#/rules/harbour-sim")
    page.wait_for_function(FRAME_SHOWN)
    page.click("#add-zone")
    click_at(page, [(0.2, 0.2), (0.5, 0.2)])
    page.click("#finish-shape")
    expect(page.locator(".toast-error")).to_contain_text("at least 3 points")
    expect(page.locator(".rule-item")).to_have_count(0)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.INVESTIGATOR, Role.OPERATOR])
def test_only_administrators_reach_the_rules_page(
    page: Page, rules_hub: RulesHub, role: Role
) -> None:
    token = rules_hub.tokens.issue(role, "someone")
    sign_in(page, rules_hub, token)
    expect(page.locator(".nav-link")).not_to_have_text(["Rules"])
    page.goto(f"{rules_hub.url}/#/rules/junction-north")
    expect(page.locator(".not-allowed")).to_contain_text("may not open Rules")
