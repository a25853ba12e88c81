"""The public transparency page in Debian's chromium: it loads signed out, shows the
aggregates with small counts as "< 5", and no identifier of anyone or anything."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, expect

from civicsight.audit_check import check_log
from civicsight.auth import Role

from .conftest import ARTIFACTS, SECRET, OfficeHub

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000
CASE, USER, PLATE = "C-PLANTED-4411", "ines.planted", "AB123CD"
PURPOSE, REASON = "van AB123CD seen at the planted harbour", "Jane Planted, missing"


def plant(hub: OfficeHub, page: Page) -> str:
    """Searches, a watchlist entry and a chain check whose details name a case, a user, a
    plate and a person; returns a track id the searches returned."""
    who = {"Authorization": f"Bearer {hub.tokens.issue(Role.INVESTIGATOR, USER)}"}
    for category, n in (("theft", 6), ("violence", 2)):
        why = {"case": CASE, "purpose": PURPOSE, "category": category}
        for _ in range(n):
            resp = page.request.get(
                f"{hub.url}/api/search/plates", params={**why, "pattern": PLATE}, headers=who
            )
            assert resp.ok, resp.text()
    track = hub.track_ids[1]
    resp = page.request.get(
        f"{hub.url}/api/tracks/{track}", params={"case": CASE, "purpose": PURPOSE}, headers=who
    )
    assert resp.ok
    hub.trail.append(
        USER,
        "investigator",
        "watchlist.add",
        {"watchlist_id": "missing", "entry_id": "e-0042", "case_id": CASE, "reason": REASON,
         "expires_at": time.time() + 86400},
    )  # fmt: skip
    check_log(hub.trail, time.time())
    return track


def test_the_public_page_loads_signed_out_and_shows_no_identifier(
    page: Page, office_hub: OfficeHub
) -> None:
    """Guards the public page needing a sign-in or sending credentials, losing its figures
    (cameras and their analytics, searches per month by purpose with "< 5", watchlist,
    retention, the last chain check), or showing a case, a user, a plate, a track, a
    person or a camera's address."""
    hub = office_hub
    track = plant(hub, page)
    problems: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            problems.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda err: problems.append(str(err)))
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r))

    page.goto(f"{hub.url}/transparency")
    expect(page.locator("#chain")).to_contain_text("Audit log intact")
    expect(page.locator("#cameras")).to_contain_text("Depot gate")
    expect(page.locator("#cameras")).to_contain_text("Licence plate reading")
    month = page.locator(".searches-table tbody tr").first
    cells = month.locator("td")
    expect(cells).to_have_count(6)
    expect(cells.nth(1)).to_have_text("6")  # theft
    expect(cells.nth(2)).to_have_text("< 5")  # violence: 2 searches
    expect(page.locator("#watchlist-count")).to_have_text("< 5")
    expect(page.locator(".retention-table")).to_contain_text("365 days")

    text = page.locator("body").inner_text()
    for planted in (CASE, USER, PLATE, track, "Jane Planted", "harbour", SECRET, "192.0.2.20"):
        assert planted not in text, planted
        assert planted not in page.content(), planted
    for r in sent:
        assert "authorization" not in {k.lower() for k in r.headers}, r.url
        assert "cookie" not in {k.lower() for k in r.headers}, r.url
    assert any(r.url.endswith("/api/transparency") for r in sent)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "transparency.png"), full_page=True)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.screenshot(path=str(ARTIFACTS / "transparency-1920.png"), full_page=True)
    assert problems == [], problems
