"""The web app's sign-in and the control room in Debian's chromium, against a real API
with live frames, an event feed and service health."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from civicsight.events import Heartbeat, RuleHit

from .conftest import SECRET, Hub, console_problems, shot

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000


def tile(page: Page, camera: str) -> str:
    return f'.camera-tile[data-camera-id="{camera}"]'


def test_the_control_room_shows_live_tiles_the_map_events_and_health(page: Page, hub: Hub) -> None:
    """Guards the control room as an operator's wall uses it: the token link signs in and
    leaves the address bar, both tiles show live annotated frames that keep coming (frame
    numbers advance), the simulated camera says so, the map shows both cameras, a rule
    hit and a service heartbeat appear in the side panels, nothing reaches out of the hub
    and nothing errs in the console."""
    problems = console_problems(page, ("401",))
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r))

    page.goto(f"{hub.url}/#token={hub.token}")

    tiles = page.locator(".camera-tile")
    expect(tiles).to_have_count(2)
    expect(page.locator(".camera-name")).to_have_text(["Junction North", "Harbour Road"])
    expect(page.locator(tile(page, "harbour-sim") + " .badge-simulated")).to_have_text("simulated")
    expect(page.locator(tile(page, "junction-north") + " .badge-simulated")).to_have_count(0)
    page.wait_for_function(
        """() => [...document.querySelectorAll('.camera-image')]
                 .every((i) => i.complete && i.naturalWidth === 768)""",
        timeout=TIMEOUT_MS,
    )
    expect(page.locator(".camera-tile.is-live")).to_have_count(2)
    first = int(page.get_attribute(tile(page, "junction-north"), "data-seq") or "0")
    page.wait_for_function(
        "([sel, seq]) => Number(document.querySelector(sel).dataset.seq) > seq + 2",
        arg=[tile(page, "junction-north"), first],
        timeout=TIMEOUT_MS,
    )
    expect(page.locator(".camera-map .map-camera")).to_have_count(2)

    assert hub.feed is not None
    now = time.time()
    hub.feed.offer(
        RuleHit(
            camera_id="harbour-sim",
            track_id=104,
            captured_at=now,
            rule_id="harbour-gate",
            rule_kind="line",
            action="cross",
            direction="in",
            cls="car",
            seq=1,
        )
    )
    hub.feed.offer(
        Heartbeat(service="detect", instance="ui:1", at=now, started_at=now - 60,
                  processed=120, lag={"frames": 2}, interval_s=5.0)
    )  # fmt: skip
    expect(page.locator("#feed .feed-rule_hit").first).to_contain_text("harbour-gate")
    expect(page.locator("#feed .feed-rule_hit").first).to_contain_text("Harbour Road")
    expect(page.locator('#health [data-service="detect"]')).to_contain_text("2 waiting")

    assert hub.token not in page.url, "token left in the address bar"
    assert page.evaluate("sessionStorage.getItem('civicsight.token')") == hub.token
    expect(page.locator("#whoami")).to_have_text("investigator desk 1")
    expect(page.locator("#role")).to_have_text("Investigator")
    content = page.content()
    assert SECRET not in content and hub.token not in content
    assert all(hub.token not in r.url for r in requests)
    assert all(r.url.startswith((hub.url, "ws://127.0.0.1", "blob:", "data:")) for r in requests)
    page.wait_for_timeout(500)
    shot(page, "control-room")
    assert problems == []


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (1920, 1080)])
def test_the_wall_fits_the_screen(browser: Browser, hub: Hub, width: int, height: int) -> None:
    """Guards a wall that needs scrolling on a control-room screen: every tile is whole
    inside the window at 1366x768 and on a 1920x1080 wall."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(f"{hub.url}/#token={hub.token}")
        expect(page.locator(".camera-tile.is-live")).to_have_count(2, timeout=TIMEOUT_MS)
        for box in [t.bounding_box() for t in page.locator(".camera-tile").all()]:
            assert box is not None
            assert box["y"] + box["height"] <= height and box["x"] + box["width"] <= width
            assert box["width"] > 300
        shot(page, f"control-room-{width}x{height}")
    finally:
        context.close()


def test_a_viewer_enlarges_a_tile_and_cannot_open_investigation(page: Page, hub: Hub) -> None:
    """Guards role checks in the UI and at the API: a viewer's navigation has the control
    room only, the investigation address says "not allowed" in words, and the API answers
    403 to a search with the viewer's token. Also: click to enlarge, Escape to close."""
    token = hub.tokens.issue("viewer", "wall display 3")
    page.goto(f"{hub.url}/#token={token}")
    expect(page.locator(".nav-link")).to_have_text(["Control room"])
    expect(page.locator(".camera-tile.is-live")).to_have_count(2)
    page.click(tile(page, "harbour-sim"))
    expect(page.locator("#enlarged")).to_be_visible()
    expect(page.locator("#enlarged h2")).to_have_text("Harbour Road")
    page.wait_for_function(
        "() => document.querySelector('#enlarged img').naturalWidth === 768",
        timeout=TIMEOUT_MS,
    )
    shot(page, "control-room-enlarged")
    page.keyboard.press("Escape")
    expect(page.locator("#enlarged")).to_be_hidden()

    page.goto(f"{hub.url}/#/investigate")
    expect(page.locator(".not-allowed")).to_contain_text("may not open Investigation")
    status = page.evaluate(
        """async (t) => (await fetch('/api/tracks?case=C-1&purpose=looking+around',
                                     {headers: {Authorization: 'Bearer ' + t}})).status""",
        token,
    )
    assert status == 403


def test_without_credentials_only_the_sign_in_form_shows(page: Page, hub: Hub) -> None:
    """Guards a page that shows (or requests) data before anyone signed in: the only call
    is the session check, which answers 401."""
    problems = console_problems(page, ("401",))
    api_calls: list[str] = []
    page.on("request", lambda r: api_calls.append(r.url) if "/api/" in r.url else None)
    page.goto(hub.url + "/")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#token-input")).to_be_visible()
    expect(page.locator("#nav")).to_be_hidden()
    expect(page.locator(".camera-tile")).to_have_count(0)
    page.wait_for_timeout(800)
    assert [u.removeprefix(hub.url) for u in api_calls] == ["/api/me"]
    shot(page, "sign-in")
    assert problems == []


@pytest.mark.parametrize(
    ("how", "token"),
    [("link", "cs_wrong-token"), ("form", "cs_wrong-token"), ("form", "{token}")],
)
def test_sign_in_with_a_token(page: Page, hub: Hub, how: str, token: str) -> None:
    """Guards a rejected token that leaves a half-empty page instead of the form with a
    reason; and signing out, which forgets the token and revokes it at the hub."""
    good = token == "{token}"
    if good:
        token = hub.tokens.issue("investigator", "desk signing out")
    if how == "link":
        page.goto(f"{hub.url}/#token={token}")
    else:
        page.goto(hub.url + "/")
        page.fill("#token-input", token)
        page.click("#login-submit")
    if good:
        expect(page.locator(".camera-tile")).to_have_count(2)
        page.click("#sign-out")
        expect(page.locator("#login")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('civicsight.token')") is None
        assert hub.tokens.verify(token) is None
    else:
        expect(page.locator("#login-error")).to_contain_text("not accepted")
        expect(page.locator(".camera-tile")).to_have_count(0)
    assert token not in page.url


def test_a_revoked_token_signs_the_wall_out(page: Page, hub: Hub) -> None:
    """Guards a wall that keeps showing live video after its token was revoked."""
    token = hub.tokens.issue("viewer", "to be revoked")
    who = hub.tokens.verify(token)
    assert who is not None
    page.goto(f"{hub.url}/#token={token}")
    expect(page.locator(".camera-tile.is-live").first).to_be_visible()
    assert hub.tokens.revoke(who.token_id)
    expect(page.locator("#login-error")).to_contain_text("session has ended")
    expect(page.locator(".camera-tile")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('civicsight.token')") is None


def test_an_expiring_token_is_signed_out_with_a_reason(page: Page, hub: Hub) -> None:
    """Guards a session that silently stops working when its token expires."""
    token = hub.tokens.issue("viewer", "short lived", ttl_s=4)
    page.goto(f"{hub.url}/#token={token}")
    expect(page.locator(".camera-tile").first).to_be_visible()
    expect(page.locator("#login-error")).to_contain_text("expired", timeout=12_000)


def test_password_sign_in_with_the_one_time_password_forces_a_change(page: Page, hub: Hub) -> None:
    """Guards the first sign-in of a new user: the one-time password opens only the
    change form; after the change the control room opens for that role, and the session
    cookie is HttpOnly (not readable by scripts)."""
    secret = hub.users.add("wall-1", "viewer", time.time())
    page.goto(hub.url + "/")
    page.fill("#user-input", "wall-1")
    page.fill("#password-input", secret)
    page.click("#password-submit")
    expect(page.locator("#change")).to_be_visible()
    expect(page.locator(".camera-tile")).to_have_count(0)
    page.fill("#new-input", "a long wall display passphrase")
    page.click("#change-submit")
    expect(page.locator(".camera-tile.is-live")).to_have_count(2)
    expect(page.locator("#whoami")).to_have_text("wall-1")
    expect(page.locator("#role")).to_have_text("Viewer")
    assert "cs_session" not in page.evaluate("document.cookie")
    page.click("#sign-out")
    expect(page.locator("#login")).to_be_visible()


def test_wrong_password_is_refused_with_a_reason(page: Page, hub: Hub) -> None:
    page.goto(hub.url + "/")
    page.fill("#user-input", "nobody-here")
    page.fill("#password-input", "not the password")
    page.click("#password-submit")
    expect(page.locator("#login-error")).to_contain_text("Wrong user name or password")
    expect(page.locator("#nav")).to_be_hidden()


def test_an_unknown_page_says_so(page: Page, hub: Hub) -> None:
    """Guards a blank panel for a mistyped address."""
    page.goto(f"{hub.url}/#token={hub.token}")
    expect(page.locator(".camera-tile")).to_have_count(2)
    page.goto(f"{hub.url}/#/nowhere")
    expect(page.locator("#view")).to_contain_text("There is no page called nowhere")
