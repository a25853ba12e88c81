"""Every role's main path in Debian's chromium against the whole hub on real media: ingest
-> detect -> plates, faces, re-ID -> stream -> indexer -> API, each its own process on
the real tansu broker.

Cameras: the walkway sample video (walkers), a parking camera showing a photo of a car
from alpr_eu (plate M5XSX), and a gate camera with face matching on, showing a photo of a
person enrolled on the watchlist. Each test saves a screenshot to tests/e2e/artifacts/;
README shows three of them (docs/)."""

from __future__ import annotations

import datetime
import shutil
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.users import UserStore
from civicsight.watchlist import DAY_S, WatchlistEntry, WatchlistStore, enrol
from tests.e2e.conftest import whole_hub
from tests.faces_support import face_encoder, face_photo

pytestmark = [pytest.mark.broker, pytest.mark.browser]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).parent / "artifacts"
PASSWORD = "a long operator passphrase"
PLATE = "M5XSX"  # eu1.jpg of alpr_eu
CASE, PURPOSE = "2026-0311", "stolen hatchback reported by its owner"
WAIT_MS = 180_000

CAMERAS = {
    "walkway": """id: walkway
name: Station walkway
source: media:one-by-one-person-detection.mp4
fps: 5
position: {x_m: 180, y_m: 40}
analytics: {detect: true, reid: true}
""",
    "parking": """id: parking
name: Harbour parking
source: media:parking
fps: 2
position: {x_m: 0, y_m: 0}
analytics: {detect: true, plates: true, reid: true}
""",
    "gate": """id: gate
name: Gate North
source: media:gate
fps: 1
position: {x_m: 90, y_m: -120}
analytics:
  detect: true
  faces: true
  faces_purpose: find missing persons reported to the police
  faces_legal_basis: court order 2026/118 (district court)
""",
}


@dataclass
class Hub:
    url: str
    data: Path
    tokens: dict[Role, str]


def media_folder(root: Path, media: Path) -> Path:
    """The media the cameras play: the walkway video, a car photo, a face photo."""
    out = root / "media"
    (out / "parking").mkdir(parents=True)
    (out / "gate").mkdir()
    shutil.copy(media / "one-by-one-person-detection.mp4", out)  # a link would lead outside
    shutil.copy(media / "alpr_eu" / "eu1.jpg", out / "parking" / "eu1.jpg")
    shutil.copy(media / "faces" / "test_obama1.jpg", out / "gate" / "test_obama1.jpg")
    return out


def enrol_watchlist(data: Path, model_mirror: Path) -> None:
    now = time.time()
    with AuditLog(data) as trail:
        store = WatchlistStore(data / "watchlist.db", trail)
        store.open()
        entry = WatchlistEntry(
            watchlist_id="missing",
            entry_id="e-0001",
            label="Barack Example",
            case_id="2026-0142",
            reason="missing person report 4411",
            added_by="ivy",
            added_at=now,
            expires_at=now + 30 * DAY_S,
        )
        names = ("train_obama_obama.jpg", "train_obama_obama2.jpg")
        with face_encoder(model_mirror) as encoder:
            enrol(store, entry, [(n, face_photo(n)) for n in names], encoder, 0.5, 32,
                  role="investigator")  # fmt: skip
        store.close()


def add_users(data: Path) -> None:
    users = UserStore(data / "auth.db")
    users.open()
    for name in ("alice", "bob"):
        secret = users.add(name, Role.OPERATOR, time.time())
        users.change_password(name, secret, PASSWORD, "setup", time.time())
    users.close()


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, media_mirror: Path, model_mirror: Path
) -> Iterator[Hub]:
    data = tmp_path_factory.mktemp("workspaces")
    cams = data / "cameras"
    cams.mkdir()
    for name, text in CAMERAS.items():
        (cams / f"{name}.yaml").write_text(text)
    media = media_folder(data, media_mirror)
    enrol_watchlist(data, model_mirror)
    add_users(data)
    store = TokenStore(data / "auth.db")
    store.open()
    tokens = {role: store.issue(role, f"{role.value} e2e") for role in Role}
    store.close()
    faster = {"CIVICSIGHT_RULES_RELOAD_S": "2", "CIVICSIGHT_FACE_REFRESH_S": "2"}
    with whole_hub(data, cams, media, model_mirror, faster) as running:
        yield Hub(running.url, data, tokens)


@pytest.fixture
def contexts(browser: Browser) -> Iterator[Callable[[], Page]]:
    opened: list[BrowserContext] = []

    def open_page(width: int = 1366, height: int = 768) -> Page:
        context = browser.new_context(viewport={"width": width, "height": height},
                                      accept_downloads=True)  # fmt: skip
        opened.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page

    yield open_page
    for context in opened:
        context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def with_token(page: Page, hub: Hub, role: Role, route: str) -> None:
    page.goto(f"{hub.url}/#token={hub.tokens[role]}")
    expect(page.locator(".nav-link.active")).to_be_visible()
    page.goto(f"{hub.url}/#/{route}")


def with_password(page: Page, hub: Hub, user: str, route: str) -> None:
    page.goto(f"{hub.url}/#/{route}")
    page.fill("#user-input", user)
    page.fill("#password-input", PASSWORD)
    page.click("#password-submit")
    expect(page.locator("#whoami")).to_have_text(user)
    expect(page.locator(".nav-link.active")).to_be_visible()
    page.goto(f"{hub.url}/#/{route}")


def test_a_viewer_watches_the_tiles_update(contexts: Callable[[], Page], hub: Hub) -> None:
    page = contexts()
    with_token(page, hub, Role.VIEWER, "live")
    walkway = '.camera-tile[data-camera-id="walkway"]'
    expect(page.locator(".camera-tile")).to_have_count(3)
    expect(page.locator(walkway + ".is-live")).to_be_visible(timeout=WAIT_MS)
    seen = float(page.get_attribute(walkway, "data-captured-at") or "0")
    page.wait_for_function(
        "([sel, t]) => Number(document.querySelector(sel).dataset.capturedAt) > t + 2",
        arg=[walkway, seen],
    )
    expect(page.locator(".nav-link")).to_have_text(["Control room"])
    expect(page.locator("#health .health-item").first).to_be_visible(timeout=WAIT_MS)
    page.wait_for_timeout(1500)
    shot(page, "control-room")


def test_an_admin_draws_a_line_and_a_zone_and_a_walker_hits_them(
    contexts: Callable[[], Page], hub: Hub
) -> None:
    """Guards rules drawn in the browser that the stream app never applies: the admin
    draws a line across the walkway's exit and a zone on the standing table, saves them,
    and a RuleHit of a real walker shows up live."""
    page = contexts()
    with_token(page, hub, Role.ADMIN, "rules/walkway")
    page.wait_for_function(
        "() => { const i = document.querySelector('.rules-frame'); return i && i.naturalWidth; }",
        timeout=WAIT_MS,
    )

    def click(points: list[tuple[float, float]]) -> None:
        box = page.evaluate(
            """() => { const i = document.querySelector('.rules-frame');
              const b = i.getBoundingClientRect();
              const s = Math.min(b.width / i.naturalWidth, b.height / i.naturalHeight);
              const w = i.naturalWidth * s, h = i.naturalHeight * s;
              return {x: b.left + (b.width - w) / 2, y: b.top + (b.height - h) / 2, w, h}; }"""
        )
        for fx, fy in points:
            page.mouse.click(box["x"] + box["w"] * fx, box["y"] + box["h"] * fy)

    page.click("#add-line")
    click([(0.72, 0.99), (0.72, 0.7)])
    page.click("#finish-shape")
    page.click("#add-zone")
    click([(0.52, 0.83), (0.68, 0.83), (0.68, 0.96), (0.52, 0.96)])
    page.click("#finish-shape")
    page.click("#rules-save")
    expect(page.locator("#rules-hint")).to_have_text("Saved rules of this camera.")
    expect(page.locator(".rules-hit").first).to_be_visible(timeout=WAIT_MS)
    shot(page, "rules")


def test_an_investigator_searches_a_plate_an_image_and_merges(
    contexts: Callable[[], Page], hub: Hub
) -> None:
    """The investigator's path: state a case, find the parked car by its plate, open its
    track (trajectory on the map, thumbnails), find a walker by a crop of them, merge two
    walker tracks with a reason."""
    page = contexts()
    with_token(page, hub, Role.INVESTIGATOR, "investigate")
    page.fill("#case-input", CASE)
    page.fill("#purpose-input", PURPOSE)
    page.select_option("#category-input", "theft")
    page.click("#case-submit")
    expect(page.locator("#case-current")).to_have_text(CASE)

    deadline = time.monotonic() + WAIT_MS / 1000
    page.goto(f"{hub.url}/#/investigate?kind=plates&pattern={PLATE}&mode=exact")
    while True:  # the plates service reads the car within a minute or two of start
        page.wait_for_timeout(2000)
        if page.locator(".result-card").count() or time.monotonic() > deadline:
            break
        page.wait_for_timeout(5000)
        # search again (going to the same address again would not: the hash is unchanged)
        page.click("#plate-submit")
    card = page.locator(".result-card").first
    expect(card.locator(".plate")).to_have_text(PLATE)
    card.click()
    expect(page.locator("#track-id")).to_be_visible()
    expect(page.locator("#visits .visit").first).to_be_visible()
    page.wait_for_function(
        """() => [...document.querySelectorAll('#visits .visit-thumb img')]
                 .some((i) => i.complete && i.naturalWidth > 0)"""
    )
    expect(page.locator("#track-map .map-camera.on-path")).to_have_count(1)
    expect(page.locator("#plate-reads tbody tr").first).to_contain_text(PLATE)
    shot(page, "track")

    # a walker, by a crop of them: the best crop the hub kept of a walkway track
    walkers: list[str] = []
    deadline = time.monotonic() + WAIT_MS / 1000
    while len(walkers) < 2 and time.monotonic() < deadline:  # walkers come every ~20 s
        walkers = page.evaluate(
            """async ([c, p]) => {
              const why = `case=${c}&purpose=${encodeURIComponent(p)}`;
              const q = `cls=person&camera=walkway&limit=50&${why}`;
              const t = sessionStorage.getItem('civicsight.token');
              const r = await fetch('/api/tracks?' + q, {headers: {Authorization: 'Bearer ' + t}});
              return (await r.json()).items
                .filter((i) => i.has_crop && i.track_id.startsWith("g-")).map((i) => i.track_id);
            }""",
            [CASE, PURPOSE],
        )
        if len(walkers) < 2:
            time.sleep(5)
    assert len(walkers) >= 2, walkers
    crop = urllib.request.urlopen(
        urllib.request.Request(
            f"{hub.url}/api/tracks/{walkers[0]}/crop.jpg?case={CASE}&purpose=walker+crop+check",
            headers={"Authorization": f"Bearer {hub.tokens[Role.INVESTIGATOR]}"},
        )
    ).read()
    upload = hub.data / "walker.jpg"
    upload.write_bytes(crop)
    page.goto(f"{hub.url}/#/investigate?kind=image")
    page.set_input_files("#image-file", str(upload))
    page.select_option("#image-cls", "person")
    page.click("#image-submit")
    found = page.locator(".result-card")
    expect(found.first).to_be_visible()
    assert walkers[0] in [c.get_attribute("data-track-id") for c in found.all()]

    page.goto(f"{hub.url}/#/track/{walkers[0]}")
    expect(page.locator("#track-id")).to_have_text(walkers[0])
    page.click("#merge")
    page.fill("#merge-other", walkers[1])
    page.fill("#correction-reason", "same walker: same coat and bag, seen twice")
    page.click(".track-dialog button[type=submit]")
    expect(page.locator("#track-notice")).to_contain_text(f"Merge with {walkers[1]} sent")


def test_two_operators_confirm_an_alert_and_one_cannot_confirm_twice(
    contexts: Callable[[], Page], hub: Hub
) -> None:
    """The four-eyes rule with the real faces service: alice confirms, her stale second
    tab is refused on screen, bob confirms and both see it confirmed."""
    alice = contexts()
    with_password(alice, hub, "alice", "alerts")
    cards = alice.locator(".alert-card")
    expect(cards.first).to_be_visible(timeout=WAIT_MS)
    alert = cards.first.get_attribute("data-alert-id")
    stale = contexts()
    stale.clock.install()
    with_password(stale, hub, "alice", "alerts")
    mine = f'.alert-card[data-alert-id="{alert}"]'
    expect(stale.locator(mine + " .alert-confirm")).to_be_enabled()
    stale.clock.pause_at(datetime.datetime.now() + datetime.timedelta(seconds=0.2))

    alice.locator(mine + " .alert-confirm").click()
    expect(alice.locator(mine + " .review-text")).to_contain_text("1 of 2 confirmations")
    stale.locator(mine + " .alert-confirm").click()
    expect(stale.locator(mine + " .alert-problem")).to_contain_text(
        "a different person must confirm it"
    )

    bob = contexts()
    with_password(bob, hub, "bob", "alerts")
    bob.locator(mine + " .alert-confirm").click()
    bob.locator('.alert-filters .filter[data-state="confirmed"]').click()
    expect(bob.locator(mine + " .review-text")).to_contain_text("Confirmed by alice and bob")
    shot(bob, "alerts")


def test_the_auditor_sees_the_searches_with_the_chain_intact(
    contexts: Callable[[], Page], hub: Hub
) -> None:
    page = contexts()
    with_token(page, hub, Role.AUDITOR, "audit")
    expect(page.locator("#chain-status")).to_have_text("Chain intact")
    plates = page.locator('.audit-row[data-action="search.plates"]')
    expect(plates.first).to_be_visible()
    expect(plates.first.locator(".audit-case")).to_have_text(CASE)
    expect(page.locator('.audit-row[data-action="track.merge"]').first).to_be_visible()
    expect(page.locator('.audit-row[data-action="alert.confirm"]').first).to_be_visible()
    shot(page, "audit")


def test_the_public_page_shows_aggregates_and_no_identifier(
    contexts: Callable[[], Page], hub: Hub
) -> None:
    page = contexts()
    page.goto(f"{hub.url}/transparency")
    expect(page.locator("body")).to_contain_text("Station walkway")
    text = page.locator("body").inner_text()
    for secret in [CASE, PLATE, "alice", "bob", "Barack", "e2e", *hub.tokens.values()]:
        assert secret not in text
    shot(page, "transparency")
