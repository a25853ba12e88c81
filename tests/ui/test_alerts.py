"""The Alerts and Watchlist workspaces in Debian's chromium, against a real API whose
alerts the real faces service raised (YuNet + dlib on the sample face photos) and whose
watchlist enrols with the same models. Users sign in with passwords."""

from __future__ import annotations

import base64
import datetime
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.bus import Received
from civicsight.cameras import load_cameras
from civicsight.events import Box, Crop
from civicsight.images import read_image
from civicsight.models.runtimes.face_encoder import FaceEncoder
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.state import ApiState, Enrolment
from civicsight.services.faces.main import Faces
from civicsight.services.faces.matcher import WatchlistMatcher
from civicsight.services.faces.settings import FacesSettings
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.users import UserStore
from civicsight.watchlist import DAY_S, WatchlistEntry, WatchlistStore, enrol
from tests.faces_support import face_encoder, face_photo
from tests.support import media_file, serving

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

TIMEOUT_MS = 20_000
PASSWORD = "correct horse battery 7"
LABEL = "Barack Example"
SIZES = [(1366, 768), (1920, 1080)]


CAMERAS = {
    "gate-north": (
        "Gate North",
        "  faces: true\n"
        "  faces_purpose: find missing persons reported to the police\n"
        "  faces_legal_basis: court order 2026/118 (district court)\n",
    ),
    "station-hall": ("Station Hall", "  faces: false\n"),
    "harbour-road": ("Harbour Road", "  detect: true\n"),
}


def write_cameras(folder: Path) -> None:
    folder.mkdir()
    for i, (camera_id, (name, analytics)) in enumerate(CAMERAS.items()):
        (folder / f"{camera_id}.yaml").write_text(
            f"id: {camera_id}\nname: {name}\nsource: media:bus.jpg\n"
            f"position: {{x_m: {80 * i}, y_m: {30 * i}}}\nanalytics:\n{analytics}"
        )


def person_crop(name: str, camera: str, track: int, at: float) -> Crop:
    image = read_image(media_file(f"faces/{name}"))
    h, w = image.shape[:2]
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    box = Box(x1=0, y1=0, x2=w, y2=h, cls="person", conf=0.9, track_id=track)
    return Crop(camera_id=camera, track_id=track, captured_at=at, box=box, quality=0.9,
                jpeg=buf.tobytes())  # fmt: skip


@dataclass(frozen=True)
class FacesHub:
    url: str
    alerts: AlertStore
    watchlist: WatchlistStore
    trail: AuditLog
    tokens: TokenStore


def add_user(users: UserStore, name: str, role: Role) -> None:
    one_time = users.add(name, role, time.time())
    users.change_password(name, one_time, PASSWORD, "setup", time.time())


@pytest.fixture(scope="module")
def encoder(model_mirror: Path) -> Iterator[FaceEncoder]:
    with face_encoder(model_mirror) as enc:
        yield enc


@pytest.fixture(scope="module")
def faces_hub(tmp_path_factory: pytest.TempPathFactory, encoder: FaceEncoder) -> Iterator[FacesHub]:
    """A hub with faces on one camera: Obama enrolled, the real faces service matching two
    of his photos (two alerts) and passing a stranger; users alice (operator), bob and
    ivy (investigators) with passwords."""
    tmp = tmp_path_factory.mktemp("ui-faces")
    cameras_dir = tmp / "cameras"
    write_cameras(cameras_dir)
    store = SqliteTrackStore(tmp / "tracks.db")
    tokens = TokenStore(tmp / "auth.db")
    users = UserStore(tmp / "auth.db")
    trail = AuditLog(tmp)
    settings = FacesSettings(data_dir=tmp, cameras_dir=cameras_dir)
    alerts = AlertStore(settings.alerts_file, trail)
    watchlist = WatchlistStore(settings.watchlist_file, trail)
    parts = (store, tokens, users, trail, alerts, watchlist)
    for part in parts:
        part.open()
    now = time.time()
    entry = WatchlistEntry(
        watchlist_id="missing",
        entry_id="e-0042",
        label=LABEL,
        case_id="2026-0142",
        reason="missing person report 4411",
        added_by="ivy",
        added_at=now - 3600,
        expires_at=now - 3600 + 30 * DAY_S,
    )
    names = ("train_obama_obama.jpg", "train_obama_obama2.jpg")
    enrol(
        watchlist, entry, [(n, face_photo(n)) for n in names], encoder, 0.5, 32, role="investigator"
    )
    service = Faces(settings)  # the real service's batch step, without a broker
    service.matcher = WatchlistMatcher(settings, encoder, watchlist, alerts)
    service.matcher.refresh(now)
    crops = [
        person_crop("test_obama1.jpg", "gate-north", 11, now - 240),
        person_crop("test_alex_lacamoire1.jpg", "gate-north", 12, now - 200),
        person_crop("obama3.jpg", "gate-north", 13, now - 60),
    ]
    out = service.handle([Received("crops", c.camera_id, c, message=None) for c in crops])  # type: ignore[arg-type]
    assert out.dead == [] and len(out.events) == 2
    assert len(alerts.alerts()) == 2
    for name, role in (
        ("alice", Role.OPERATOR),
        ("bob", Role.INVESTIGATOR),
        ("ivy", Role.INVESTIGATOR),
    ):
        add_user(users, name, role)
    app = create_app(
        ApiState(
            store=store,
            tokens=tokens,
            audit=trail,
            cameras=CameraRegistry(load_cameras(cameras_dir), cameras_dir),
            users=users,
            alerts=alerts,
            watchlist=watchlist,
            enrolment=Enrolment(encoder, 0.5, 32),
        )
    )
    try:
        with serving(app) as url:
            yield FacesHub(url, alerts, watchlist, trail, tokens)
    finally:
        for part in parts:
            part.close()


def collect_problems(page: Page) -> list[str]:
    """Console errors and uncaught exceptions (CSP violations show up here too); the
    API's own refusals (4xx) are expected in some tests and filtered by the caller."""
    problems: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            problems.append(f"console: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda err: problems.append(f"pageerror: {err}"))
    return problems


OpenPage = Callable[..., Page]


@pytest.fixture
def browser_page(browser: Browser) -> Iterator[OpenPage]:
    """Opens pages, each in a context of its own (its own sign-in), at a viewport size."""
    contexts = []

    def open_page(width: int = 1366, height: int = 768) -> Page:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        return page

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page: Page, hub: FacesHub, user: str, route: str = "alerts") -> None:
    page.goto(f"{hub.url}/#/{route}")
    page.fill("#user-input", user)
    page.fill("#password-input", PASSWORD)
    page.click("#password-submit")
    expect(page.locator("#whoami")).to_have_text(user)
    if not page.url.endswith(f"#/{route}"):
        page.goto(f"{hub.url}/#/{route}")


def card(page: Page, alert_id: str) -> Locator:
    return page.locator(f'.alert-card[data-alert-id="{alert_id}"]')


def wait_for_faces(page: Page, alert_id: str) -> None:
    page.wait_for_function(
        """(id) => {
          const imgs = [...document.querySelectorAll(`.alert-card[data-alert-id="${id}"] img`)];
          return imgs.length === 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
        }""",
        arg=alert_id,
    )


def drop_file(page: Page, target: str, path: Path) -> None:
    """Drops a file on ``target`` as a browser does when one is dragged from the desktop
    (a real ``drop`` event carrying the file's bytes)."""
    page.evaluate(
        """([selector, name, b64]) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const data = new DataTransfer();
          data.items.add(new File([bytes], name, { type: "image/jpeg" }));
          const zone = document.querySelector(selector);
          for (const kind of ["dragenter", "dragover", "drop"]) {
            zone.dispatchEvent(new DragEvent(kind, { dataTransfer: data, bubbles: true,
              cancelable: true }));
          }
        }""",
        [target, path.name, base64.b64encode(path.read_bytes()).decode()],
    )


def shoot(page: Page, name: str, top: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if top:
        page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def test_two_different_users_confirm_an_alert(browser_page: OpenPage, faces_hub: FacesHub) -> None:
    """Guards the four-eyes rule as people meet it: alice (operator) sees the matched
    face beside the enrolled photo, score against threshold and the face-matching camera
    with its legal basis; she confirms and her button turns disabled with the reason; bob
    (investigator), signed in elsewhere, sees "1 of 2 ... confirmed by alice" and confirms;
    both pages then show the alert confirmed by alice and bob."""
    newest = sorted(faces_hub.alerts.alerts(), key=lambda a: -a.first_at)[0].alert_id
    alice = browser_page(1366, 768)
    problems = collect_problems(alice)
    sign_in(alice, faces_hub, "alice")
    expect(alice.locator(".alert-card")).to_have_count(2)
    first = card(alice, newest)
    expect(first.locator(".alert-camera")).to_have_text("Gate North")
    expect(first.locator(".review-text")).to_contain_text("0 of 2 confirmations")
    expect(first.locator(".score-detail")).to_contain_text("below the threshold 0.50")
    expect(first.locator(".alert-label")).to_have_count(0)  # operators never see the name
    wait_for_faces(alice, newest)
    expect(alice.locator("#face-cameras .facecam")).to_have_count(1)
    expect(alice.locator("#face-cameras .facecam-basis")).to_have_text(
        "court order 2026/118 (district court)"
    )
    expect(alice.locator("#face-cameras .facecams-off")).to_contain_text("2 other cameras")
    shoot(alice, "alerts-1366")

    first.locator(".alert-confirm").click()
    expect(first.locator(".review-text")).to_contain_text(
        "1 of 2 confirmations — confirmed by alice (you); a different person must confirm"
    )
    expect(first.locator(".alert-confirm")).to_be_disabled()
    expect(first.locator(".alert-why")).to_contain_text(
        "The second confirmation must come from a different person"
    )

    bob = browser_page(1920, 1080)
    sign_in(bob, faces_hub, "bob")
    bobs = card(bob, newest)
    expect(bobs.locator(".review-text")).to_contain_text(
        "1 of 2 confirmations — confirmed by alice;"
    )
    expect(bobs.locator(".alert-label")).to_contain_text(LABEL)  # investigators may see it
    expect(bobs.locator(".alert-confirm")).to_be_enabled()
    wait_for_faces(bob, newest)
    shoot(bob, "alerts-1920")
    bobs.locator(".alert-confirm").click()
    expect(bob.locator(f'.alert-card[data-alert-id="{newest}"]')).to_have_count(0)  # left "new"
    bob.locator('.alert-filters .filter[data-state="confirmed"]').click()
    expect(bobs.locator(".state-pill")).to_have_text("Confirmed")
    expect(bobs.locator(".review-text")).to_contain_text("Confirmed by alice and bob")

    alice.locator('.alert-filters .filter[data-state="confirmed"]').click()
    expect(first.locator(".review-text")).to_contain_text("Confirmed by alice and bob")
    expect(first.locator(".alert-confirm")).to_have_count(0)
    steps = [(e.actor, e.role) for e in faces_hub.trail.entries(action="alert.confirm")]
    assert steps[-2:] == [("alice", "operator"), ("bob", "investigator")]
    assert LABEL.encode() not in faces_hub.trail.path.read_bytes()
    assert problems == []


def test_the_same_user_confirming_twice_is_refused_on_screen(
    browser_page: OpenPage, faces_hub: FacesHub
) -> None:
    """Guards the refusal as the second tab of the same person meets it: alice confirms
    in one tab; her other tab, still showing the alert unconfirmed, tries again and the
    API's refusal (409) is shown on the card in words, not swallowed; nothing new is
    recorded."""
    alert = sorted(faces_hub.alerts.alerts("new"), key=lambda a: a.first_at)[0].alert_id
    one, two = browser_page(), browser_page()
    two.clock.install()  # tab two's timers under the test's control
    sign_in(one, faces_hub, "alice")
    sign_in(two, faces_hub, "alice")
    expect(card(two, alert).locator(".alert-confirm")).to_be_enabled()
    two.clock.pause_at(datetime.datetime.now() + datetime.timedelta(seconds=0.2))
    # from here tab two keeps its stale view: its refresh no longer runs
    card(one, alert).locator(".alert-confirm").click()
    expect(card(one, alert).locator(".alert-confirm")).to_be_disabled()
    before = len(faces_hub.trail.entries(action="alert.confirm"))

    card(two, alert).locator(".alert-confirm").click()
    problem = card(two, alert).locator(".alert-problem")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text("alice already confirmed")
    expect(problem).to_contain_text("a different person must confirm it")
    expect(card(two, alert).locator(".alert-confirm")).to_be_disabled()
    assert len(faces_hub.trail.entries(action="alert.confirm")) == before
    shoot(two, "alerts-refused")


def test_dismissal_asks_for_a_reason(browser_page: OpenPage, faces_hub: FacesHub) -> None:
    """Guards the dismissal dialog: a reason is required; once given, the card says who
    dismissed it and why."""
    alerts = faces_hub.alerts.alerts("new")
    if not alerts:
        pytest.skip("no alert left to dismiss")
    alert = alerts[0].alert_id
    page = browser_page()
    sign_in(page, faces_hub, "bob")
    card(page, alert).locator(".alert-dismiss").click()
    dialog = page.locator(".dialog-card")
    expect(dialog).to_be_visible()
    dialog.locator("textarea").fill("a lookalike: different ears and chin")
    dialog.locator("button[type=submit]").click()
    page.locator('.alert-filters .filter[data-state="dismissed"]').click()
    dismissed = card(page, alert)
    expect(dismissed.locator(".review-text")).to_contain_text("Dismissed by bob")
    expect(dismissed.locator(".alert-reason")).to_contain_text("a lookalike")
    expect(dismissed.locator(".face-reveal")).to_have_count(2)  # decided: faces on request


def test_watchlist_add_and_remove_with_a_real_photo(
    browser_page: OpenPage, faces_hub: FacesHub
) -> None:
    """Guards the watchlist workspace end to end: ivy adds a person from a real photo
    (file input), with the case prefilled from the case bar; the entry is listed with
    its days left; a group photo is refused on screen with the reason; removal asks for a
    reason and deletes the entry with its photo."""
    page = browser_page(1366, 768)
    problems = collect_problems(page)
    sign_in(page, faces_hub, "ivy", "watchlist")
    page.fill("#case-input", "2026-0177")
    page.fill("#purpose-input", "missing person report 5120")
    page.click("#case-submit")
    expect(page.locator("#watchlist-table tbody tr")).to_have_count(1)
    expect(page.locator("#wl-case")).to_have_value("2026-0177")

    page.set_input_files("#wl-photo", str(media_file("faces/test_obama_and_biden.jpg")))
    page.fill("#wl-label", "Group Photo")
    page.fill("#wl-reason", "testing a refusal of a group photo")
    page.click("#wl-submit")
    expect(page.locator("#wl-error")).to_contain_text("faces; enrol from photos that show only")
    expect(page.locator("#watchlist-table tbody tr")).to_have_count(1)
    expect(page.locator("#wl-preview img")).to_be_visible()
    expect(page.locator("#wl-error")).to_be_in_viewport()
    shoot(page, "watchlist-refused", top=False)

    drop_file(page, ".wl-drop", media_file("faces/train_rose_leslie_img1.jpg"))
    expect(page.locator("#wl-preview .wl-file")).to_have_text("train_rose_leslie_img1.jpg")
    expect(page.locator("#wl-preview img")).to_be_visible()
    page.fill("#wl-label", "Rose Example")
    page.fill("#wl-reason", "missing person report 5120")
    page.fill("#wl-days", "5")
    page.fill("#wl-watchlist", "missing")
    page.click("#wl-submit")
    rows = page.locator("#watchlist-table tbody tr")
    expect(rows).to_have_count(2)
    rose = page.locator("#watchlist-table tbody tr", has_text="Rose Example")
    expect(rose.locator(".days-left")).to_contain_text("5 days")
    expect(rose.locator(".days-left.pill-warn")).to_be_visible()  # under 7 days: expiring soon
    expect(rose.locator("td.case")).to_have_text("2026-0177")
    (added,) = [e for e, _ in faces_hub.watchlist.entries() if e.label == "Rose Example"]
    assert faces_hub.watchlist.reference(added.watchlist_id, added.entry_id) is not None
    expect(page.locator("#face-cameras .facecam")).to_have_count(1)
    shoot(page, "watchlist-1366")
    page.set_viewport_size({"width": 1920, "height": 1080})
    shoot(page, "watchlist-1920")

    rose.locator(".wl-remove").click()
    dialog = page.locator(".dialog-card")
    dialog.locator("textarea").fill("found safe and well")
    dialog.locator("button[type=submit]").click()
    expect(page.locator("#watchlist-table tbody tr")).to_have_count(1)
    assert faces_hub.watchlist.entry(added.watchlist_id, added.entry_id) is None
    assert faces_hub.watchlist.reference(added.watchlist_id, added.entry_id) is None
    removal = faces_hub.trail.entries(action="watchlist.remove")[-1]
    assert (removal.actor, removal.details["reason"]) == ("ivy", "found safe and well")
    assert b"Rose Example" not in faces_hub.trail.path.read_bytes()
    assert problems == []


def test_an_operator_may_not_open_the_watchlist(
    browser_page: OpenPage, faces_hub: FacesHub
) -> None:
    """Guards the navigation: operators review alerts but the watchlist is not theirs."""
    page = browser_page()
    sign_in(page, faces_hub, "alice", "watchlist")
    expect(page.locator(".not-allowed")).to_be_visible()
    expect(page.locator('.nav-link[data-page="watchlist"]')).to_have_count(0)
    expect(page.locator('.nav-link[data-page="alerts"]')).to_have_count(1)
