"""The control room in Debian's chromium against a real API with live frames and tracks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, expect

from .conftest import ARTIFACTS, SECRET, Hub

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    p = context.new_page()
    p.set_default_timeout(TIMEOUT_MS)
    try:
        yield p
    finally:
        context.close()


def collect_problems(page: Page) -> list[str]:
    """Console errors and uncaught exceptions (CSP violations show up here too)."""
    problems: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            problems.append(f"console: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda err: problems.append(f"pageerror: {err}"))
    return problems


def state_case(page: Page, case: str = "2026-0142", purpose: str = "stolen van report") -> None:
    page.fill("#case-input", case)
    page.fill("#purpose-input", purpose)
    page.click("#case-submit")


def test_control_room_shows_live_cameras_and_tracks(page: Page, hub: Hub) -> None:
    """Guards the page as investigators use it: the token link signs in and leaves the
    address bar, both camera tiles show live annotated frames (the simulated one says so),
    no track is fetched before a case and purpose are stated, then the tracks table fills
    with crops."""
    problems = collect_problems(page)
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r))

    page.goto(f"{hub.url}/#token={hub.token}")

    tiles = page.locator(".camera-tile")
    expect(tiles).to_have_count(2)
    for i in range(2):
        expect(tiles.nth(i)).to_be_visible()
    expect(page.locator(".camera-name")).to_have_text(["Junction North", "Harbour Road"])
    sim = page.locator('.camera-tile[data-camera-id="harbour-sim"] .badge-simulated')
    expect(sim).to_be_visible()
    expect(sim).to_have_text("simulated")
    expect(
        page.locator('.camera-tile[data-camera-id="junction-north"] .badge-simulated')
    ).to_have_count(0)

    page.wait_for_function(
        """() => {
          const imgs = [...document.querySelectorAll('.camera-tile .camera-image')];
          return imgs.length === 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
        }""",
        timeout=TIMEOUT_MS,
    )
    widths = page.eval_on_selector_all(".camera-image", "els => els.map(e => e.naturalWidth)")
    assert widths == [768, 768]
    expect(page.locator(".camera-tile.is-live")).to_have_count(2)

    assert not [r for r in requests if "/api/tracks" in r.url]
    expect(page.locator("#tracks tbody tr")).to_have_count(0)
    state_case(page)
    rows = page.locator("#tracks tbody tr")
    expect(rows).to_have_count(len(hub.track_ids))
    expect(rows.first).to_be_visible()
    # newest first: the last track inserted is seen last
    assert rows.first.get_attribute("data-track-id") == hub.track_ids[-1]
    expect(rows.first.locator("td.cameras")).to_have_text("harbour-sim")
    page.wait_for_function(
        """() => {
          const imgs = [...document.querySelectorAll('#tracks .crop-thumb')];
          return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
        }""",
        timeout=TIMEOUT_MS,
    )

    # the tiles keep refreshing (new blob URLs) while the feeder sends frames
    first_src = page.get_attribute('.camera-tile[data-camera-id="junction-north"] img', "src")
    page.wait_for_function(
        """(src) => document.querySelector('.camera-tile[data-camera-id="junction-north"] img')
                      .src !== src""",
        arg=first_src,
        timeout=TIMEOUT_MS,
    )

    assert hub.token not in page.url, "token left in the address bar"
    assert page.evaluate("sessionStorage.getItem('civicsight.token')") == hub.token
    expect(page.locator("#whoami")).to_contain_text("investigator desk 1")
    track_calls = [r.url for r in requests if "/api/tracks" in r.url]
    assert track_calls and all("case=2026-0142" in u and "purpose=" in u for u in track_calls)
    content = page.content()
    assert SECRET not in content and hub.token not in content
    assert all(hub.token not in r.url for r in requests)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(600)  # let the latest frames paint
    page.screenshot(path=str(ARTIFACTS / "control-room.png"), full_page=True)
    assert problems == []


def test_without_token_only_the_login_form_shows(page: Page, hub: Hub) -> None:
    """Guards a page that shows (or even requests) data before anyone signed in."""
    problems = collect_problems(page)
    api_calls: list[str] = []
    page.on("request", lambda r: api_calls.append(r.url) if "/api/" in r.url else None)

    page.goto(hub.url + "/")

    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#token-input")).to_be_visible()
    expect(page.locator("#dashboard")).to_be_hidden()
    expect(page.locator("#tracks tbody tr")).to_have_count(0)
    expect(page.locator(".camera-tile")).to_have_count(0)
    page.wait_for_timeout(1000)
    assert api_calls == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "login.png"))
    assert problems == []


@pytest.mark.parametrize(
    ("how", "token"),
    [("fragment", "cs_wrong-token"), ("form", "cs_wrong-token"), ("form", "{token}")],
)
def test_sign_in(page: Page, hub: Hub, how: str, token: str) -> None:
    """Guards sign-in through the form, and a rejected token that leaves a half-empty
    dashboard instead of the form with a reason."""
    token = token.format(token=hub.token)
    good = token == hub.token
    if how == "fragment":
        page.goto(f"{hub.url}/#token={token}")
    else:
        page.goto(hub.url + "/")
        page.fill("#token-input", token)
        page.click("#login-submit")
    if good:
        expect(page.locator("#dashboard")).to_be_visible()
        state_case(page)
        expect(page.locator("#tracks tbody tr").first).to_be_visible()
        page.click("#sign-out")
        expect(page.locator("#login")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('civicsight.token')") is None
    else:
        expect(page.locator("#login-error")).to_be_visible()
        expect(page.locator("#login-error")).to_contain_text("not accepted")
        expect(page.locator("#dashboard")).to_be_hidden()
    assert token not in page.url


def test_revoking_a_token_signs_the_wall_display_out(page: Page, hub: Hub) -> None:
    """Guards a page that keeps showing live video (or retries forever) after its token
    was revoked: the next call gets 401 and the page returns to the sign-in form."""
    token = hub.tokens.issue("viewer", "to be revoked")
    who = hub.tokens.verify(token)
    assert who is not None
    page.goto(f"{hub.url}/#token={token}")
    expect(page.locator(".camera-tile").first).to_be_visible()
    expect(page.locator(".panel-tracks")).to_be_hidden()  # a viewer never searches
    assert hub.tokens.revoke(who.token_id)
    expect(page.locator("#login-error")).to_contain_text("session ended")
    expect(page.locator("#dashboard")).to_be_hidden()
    expect(page.locator(".camera-tile")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('civicsight.token')") is None


def test_password_sign_in_with_the_one_time_password_forces_a_change(page: Page, hub: Hub) -> None:
    """Guards the first sign-in of a new user: the one-time password opens only the
    change form; after the change the dashboard opens for that role (a viewer: live tiles,
    no tracks panel), and the session cookie is HttpOnly (not readable by scripts)."""
    import time

    secret = hub.users.add("wall-1", "viewer", time.time())
    page.goto(hub.url + "/")
    page.fill("#user-input", "wall-1")
    page.fill("#password-input", secret)
    page.click("#password-submit")
    expect(page.locator("#change")).to_be_visible()
    expect(page.locator("#dashboard")).to_be_hidden()
    page.fill("#new-input", "a long wall display passphrase")
    page.click("#change-submit")
    expect(page.locator("#dashboard")).to_be_visible()
    expect(page.locator("#whoami")).to_contain_text("wall-1 · viewer")
    expect(page.locator(".camera-tile")).to_have_count(2)
    expect(page.locator(".panel-tracks")).to_be_hidden()
    assert "cs_session" not in page.evaluate("document.cookie")
    page.click("#sign-out")
    expect(page.locator("#login")).to_be_visible()


def test_wrong_password_is_refused_with_a_reason(page: Page, hub: Hub) -> None:
    page.goto(hub.url + "/")
    page.fill("#user-input", "nobody-here")
    page.fill("#password-input", "not the password")
    page.click("#password-submit")
    expect(page.locator("#password-error")).to_contain_text("wrong user name or password")
    expect(page.locator("#dashboard")).to_be_hidden()
