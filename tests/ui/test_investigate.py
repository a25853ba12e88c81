"""The investigation workspace and the track page in Debian's chromium, against a real API
over a real SQLite store (tracks, per-tracklet crops, plate reads, appearance vectors of
the re-ID service's own models on the sample photos), a real audit log and a real
publisher on the embedded broker (merges really go out on ``track_corrections``)."""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from playwright.sync_api import Page, Request, expect

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.bus import KafkaPublisher, KafkaSubscriber
from civicsight.cameras import CameraConfig, Position
from civicsight.events import (
    Appearance,
    ObjectClass,
    PlateRead,
    TrackCorrection,
    TrackletRef,
    TrackUpdate,
    global_track_id,
)
from civicsight.models.appearance import AppearanceSettings
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.embedder import ReidImageEmbedder
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore
from tests.support import media_file, serving

from .conftest import ARTIFACTS, Hub, car_crops, console_problems, encode, load_clip

pytestmark = pytest.mark.browser

TIMEOUT_MS = 20_000
SIZES = {"1366": (1366, 768), "1920": (1920, 1080)}
CASE = ("2026-0142", "stolen van report 4411")
VAN = "g-5d1c0ae2b7f94e31"
VAN_LATER = "g-a04be6f1c2d39e77"
WALKER = "g-77e0c4d2a9b15f08"
Leg = tuple[str, int, float, float]  # camera, tracker id, first seen, last seen


def image(name: str) -> np.ndarray:
    pixels = cv2.imread(str(media_file(name)))
    assert pixels is not None
    return pixels


def cut(pixels: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.ascontiguousarray(pixels[y1:y2, x1:x2])


@dataclass(frozen=True)
class Investigation:
    url: str
    token: str
    viewer: str
    trail: AuditLog
    kafka: dict[str, str]
    query_png: Path


def legs_of(*legs: Leg) -> tuple[TrackletRef, ...]:
    return tuple(
        TrackletRef(camera_id=c, track_id=n, first_seen=f, last_seen=t) for c, n, f, t in legs
    )


def whole(track_id: str, cls: ObjectClass, legs: tuple[Leg, ...], version: int = 3) -> TrackUpdate:
    refs = legs_of(*legs)
    return TrackUpdate(
        track_id=track_id,
        version=version,
        cls=cls,
        tracklets=refs,
        first_seen=min(r.first_seen for r in refs),
        last_seen=max(r.last_seen for r in refs),
        closed=True,
        emitted_at=max(r.last_seen for r in refs) + 5,
    )


def own(leg: Leg, cls: ObjectClass, crop: np.ndarray) -> TrackUpdate:
    """The tracklet's own track with its best crop, as the stream app publishes it."""
    (ref,) = legs_of(leg)
    return TrackUpdate(
        track_id=global_track_id(ref.camera_id, ref.track_id),
        version=2,
        cls=cls,
        tracklets=(ref,),
        first_seen=ref.first_seen,
        last_seen=ref.last_seen,
        closed=True,
        best_crop_jpeg=encode(crop),
        emitted_at=ref.last_seen + 4,
    )


def look(leg: Leg, cls: ObjectClass, crop: np.ndarray, embedder: ReidImageEmbedder) -> Appearance:
    vector = embedder.embed(crop, cls)
    return Appearance(
        camera_id=leg[0],
        track_id=leg[1],
        captured_at=leg[2] + 1,
        cls=cls,
        quality=0.9,
        model=embedder.model_for(cls) or "",
        embedding=tuple(float(v) for v in vector),
    )


def fill(store: SqliteTrackStore, embedder: ReidImageEmbedder, now: float) -> None:
    """A van seen on three cameras (plates read on each) and again later; a walker seen on
    two cameras; four other people; three cars from the overhead clip."""
    bus, people = image("bus.jpg"), image("zidane.jpg")
    van = cut(bus, (20, 230, 800, 750))
    events: list[TrackUpdate | PlateRead | Appearance] = []
    van_legs: tuple[Leg, ...] = (
        ("junction-north", 21, now - 900, now - 880),
        ("market-square", 5, now - 800, now - 770),
        ("harbour-sim", 34, now - 700, now - 650),
    )
    views = [van, cut(bus, (40, 250, 780, 730)), cv2.flip(van, 1)]
    events += [own(leg, "bus", view) for leg, view in zip(van_legs, views, strict=True)]
    events.append(whole(VAN, "bus", van_legs))
    later: Leg = ("junction-north", 40, now - 400, now - 380)
    events += [own(later, "bus", cut(bus, (30, 240, 790, 740))), whole(VAN_LATER, "bus", (later,))]
    for (cam, n, first, _), text, conf in [
        (van_legs[0], "AB123CD", 0.91),
        (van_legs[1], "A8123CD", 0.62),
        (van_legs[2], "AB123CD", 0.84),
        (later, "AB123CD", 0.7),
    ]:
        events.append(
            PlateRead(camera_id=cam, track_id=n, captured_at=first + 3, text=text, conf=conf)
        )
    walker_legs: tuple[Leg, ...] = (
        ("market-square", 11, now - 1500, now - 1470),
        ("junction-north", 12, now - 1400, now - 1360),
    )
    walker = [cut(bus, (48, 400, 245, 905)), cv2.flip(cut(bus, (52, 404, 240, 900)), 1)]
    for leg, crop in zip(walker_legs, walker, strict=True):
        events += [own(leg, "person", crop), look(leg, "person", crop, embedder)]
    events.append(whole(WALKER, "person", walker_legs))
    others = [
        (bus, (665, 375, 810, 880)),
        (bus, (215, 400, 350, 865)),
        (people, (740, 40, 1150, 710)),
        (people, (120, 190, 700, 720)),
    ]
    for i, (pixels, box) in enumerate(others):
        leg: Leg = ("harbour-sim", 60 + i, now - 2000 + 90 * i, now - 1980 + 90 * i)
        crop = cut(pixels, box)
        events += [own(leg, "person", crop), look(leg, "person", crop, embedder)]
    for i, crop in enumerate(car_crops(load_clip(media_file("car-detection.mp4")))):
        leg = ("junction-north", 80 + i, now - 300 + 40 * i, now - 290 + 40 * i)
        events.append(own(leg, "car", crop))
    result = store.write(events, now)
    assert not result.failed


@pytest.fixture(scope="module")
def investigation(
    tmp_path_factory: pytest.TempPathFactory, kafka: dict[str, str], model_mirror: Path
) -> Iterator[Investigation]:
    tmp = tmp_path_factory.mktemp("ui-investigate")
    store = SqliteTrackStore(tmp / "tracks.db")
    tokens = TokenStore(tmp / "auth.db")
    trail = AuditLog(tmp)
    for part in (store, tokens, trail):
        part.open()
    embedder = ReidImageEmbedder(AppearanceSettings(model_mirror=model_mirror))
    fill(store, embedder, time.time())
    query_png = tmp / "walker-photo.png"
    ok, png = cv2.imencode(".png", cut(image("bus.jpg"), (44, 396, 250, 910)))
    assert ok
    query_png.write_bytes(png.tobytes())
    cameras = [
        CameraConfig(id="junction-north", name="Junction North", source="rtsp://192.0.2.10/h264",
                     position=Position(x_m=0, y_m=0)),
        CameraConfig(id="market-square", name="Market Square", source="rtsp://192.0.2.11/h264",
                     position=Position(x_m=140, y_m=-90)),
        CameraConfig(id="harbour-sim", name="Harbour Road", source="media:car-detection.mp4",
                     simulated=True, transform="mirror", position=Position(x_m=320, y_m=60)),
    ]  # fmt: skip
    publisher = KafkaPublisher(kafka, "ui-investigate")
    app = create_app(
        ApiState(
            store=store,
            tokens=tokens,
            audit=trail,
            cameras=CameraRegistry(cameras),
            publisher=publisher,
            embedder=embedder,
        )
    )
    try:
        with serving(app) as url:
            yield Investigation(
                url,
                tokens.issue(Role.INVESTIGATOR, "investigator desk 2"),
                tokens.issue(Role.VIEWER, "wall display"),
                trail,
                kafka,
                query_png,
            )
    finally:
        publisher.close()
        embedder.close()
        for part in (store, tokens, trail):
            part.close()


def sign_in(page: Page, url: str, token: str, case: bool = True) -> None:
    page.goto(f"{url}/#token={token}")
    expect(page.locator("#whoami")).to_be_visible()
    page.wait_for_url("**/#/live")  # the role's home page: the sign-in is over
    if case:  # the case bar shows on the pages that search
        page.goto(f"{url}/#/investigate")
        page.fill("#case-input", CASE[0])
        page.fill("#purpose-input", CASE[1])
        page.select_option("#category-input", "theft")
        page.click("#case-submit")
        expect(page.locator("#case-current")).to_have_text(CASE[0])


def images_loaded(page: Page, selector: str, count: int) -> None:
    page.wait_for_function(
        """([sel, n]) => {
          const imgs = [...document.querySelectorAll(sel)];
          return imgs.length >= n && imgs.every((i) => i.complete && i.naturalWidth > 0);
        }""",
        arg=[selector, count],
    )


def shoot(page: Page, name: str) -> None:
    """Screenshots at both sizes the control rooms use (tests/ui/artifacts)."""
    ARTIFACTS.mkdir(exist_ok=True)
    for label, (w, h) in SIZES.items():
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(150)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 768})


def actions(hub: Investigation, action: str) -> list[dict[str, object]]:
    return [e.details for e in hub.trail.entries(limit=100_000) if e.action == action]


def plate_search(page: Page, hub: Investigation, plate: str = "AB123CD") -> None:
    page.goto(f"{hub.url}/#/investigate")
    page.click("#tab-plates")
    page.fill("#plate-pattern", plate)
    page.select_option("#plate-mode", "exact")
    page.click("#plate-submit")


def test_a_plate_search_leads_to_the_track_with_its_trajectory_and_thumbnails(
    page: Page, investigation: Investigation
) -> None:
    """Guards the investigator's main path: a plate search shows a grid of best crops with
    camera, time and plate; the search stays in the address; a card opens the track page
    with the trajectory drawn across the camera map in time order, one thumbnail per camera
    visit, the plate reads with their confidence and the history; every step audited."""
    hub = investigation
    problems = console_problems(page, ("404",))
    sign_in(page, hub.url, hub.token)
    plate_search(page, hub)
    cards = page.locator(".result-card")
    expect(cards).to_have_count(3)
    assert "kind=plates" in page.url and "pattern=AB123CD" in page.url
    expect(page.locator(f'.result-card[data-track-id="{VAN}"]')).to_have_count(2)
    expect(cards.locator(".plate")).to_have_text(["AB123CD"] * 3)
    # newest read first: the later sighting, then the van on Harbour Road, then Junction North
    expect(cards.locator(".card-sub")).to_have_text(["70 % read", "84 % read", "91 % read"])
    expect(cards.nth(2)).to_contain_text("Junction North")
    images_loaded(page, ".result-card img", 3)
    searches = actions(hub, "search.plates")
    assert searches and searches[-1]["case_id"] == CASE[0] and searches[-1]["category"] == "theft"
    shoot(page, "investigate-plates")

    page.locator(f'.result-card[data-track-id="{VAN}"]').first.click()
    expect(page.locator("#track-id")).to_have_text(VAN)
    assert page.url.endswith(f"#/track/{VAN}")
    expect(page.locator("#track-state")).to_have_text("closed")
    visits = page.locator("#visits .visit")
    expect(visits).to_have_count(3)
    expect(visits.locator(".visit-camera")).to_have_text(
        ["Junction North", "Market Square", "Harbour Road"]
    )
    images_loaded(page, "#visits .visit-thumb img", 3)
    images_loaded(page, ".track-crop img", 1)
    # the trajectory: a path through the three cameras, numbered steps in time order
    expect(page.locator("#track-map .map-path")).to_have_count(1)
    expect(page.locator("#track-map .map-camera.on-path")).to_have_count(3)
    expect(page.locator("#track-map .map-step")).to_have_text(["1", "2"])
    points = page.get_attribute("#track-map .map-path", "points") or ""
    assert len(points.split()) == 3
    expect(page.locator("#plate-reads tbody tr")).to_have_count(3)
    expect(page.locator("#plate-reads tbody tr").first).to_contain_text("91 %")
    expect(page.locator("#history tbody tr")).to_have_count(1)
    views = [d for d in actions(hub, "thumbnail.view") if d.get("track") == VAN]
    assert {d.get("tracklet") for d in views} >= {
        "junction-north/21",
        "market-square/5",
        "harbour-sim/34",
    }
    shoot(page, "track-page")

    page.click(".back-link")
    expect(page.locator(".result-card")).to_have_count(3)  # the search came back
    assert problems == []


def test_an_uploaded_walker_crop_finds_the_walkers_track(
    page: Page, investigation: Investigation
) -> None:
    """Guards the image search from the page: a dropped or chosen photo of the walker,
    searched as a person, puts the walker's cross-camera track first; the search is
    logged as a biometric search with the image's SHA-256, never the image."""
    hub = investigation
    problems = console_problems(page, ("404",))
    sign_in(page, hub.url, hub.token)
    page.goto(f"{hub.url}/#/investigate?kind=image")
    expect(page.locator("#image-form")).to_be_visible()
    page.set_input_files("#image-file", str(hub.query_png))
    expect(page.locator(".drop-preview")).to_be_visible()
    page.select_option("#image-cls", "person")
    page.fill("#image-k", "5")
    page.click("#image-submit")
    cards = page.locator(".result-card")
    expect(cards.first).to_be_visible()
    expect(cards.first).to_have_attribute("data-track-id", WALKER)
    expect(cards.first.locator(".score")).to_contain_text("score 0.")
    images_loaded(page, ".result-card img", 1)
    record = actions(hub, "search.biometric")[-1]
    assert record["case_id"] == CASE[0] and record["matches"][0] == WALKER  # type: ignore[index]
    assert len(str(record["input_sha256"])) == 64
    shoot(page, "investigate-image")
    cards.first.click()
    expect(page.locator("#track-id")).to_have_text(WALKER)
    expect(page.locator("#visits .visit")).to_have_count(2)
    images_loaded(page, "#visits .visit-thumb img", 2)
    assert problems == []


def test_track_search_pages_with_the_cursor_and_back_returns(
    page: Page, investigation: Investigation
) -> None:
    """Guards paging: every person track shown once over the pages (the API's cursor in
    the address), and back/forward returning to the pages seen before."""
    hub = investigation
    problems = console_problems(page, ("404",))
    sign_in(page, hub.url, hub.token)
    page.goto(f"{hub.url}/#/investigate?kind=tracks")
    page.select_option("#tracks-cls", "person")
    page.select_option("#tracks-camera", "")
    page.click("#tracks-submit")
    expect(page.locator(".result-card")).to_have_count(7)  # the walker, its visits, 4 others
    images_loaded(page, ".result-card img", 7)
    shoot(page, "investigate-tracks")
    page.goto(f"{hub.url}/#/investigate?kind=tracks&cls=person&limit=3")
    seen: list[list[str]] = []
    for expected in (3, 3, 1):
        cards = page.locator(".result-card")
        expect(cards).to_have_count(expected)
        seen.append([c.get_attribute("data-track-id") or "" for c in cards.all()])
        if expected == 3:
            page.click("#next-page")
    expect(page.locator("#next-page")).to_have_count(0)
    expect(page.locator("#first-page")).to_be_visible()
    ids = [i for ids in seen for i in ids]
    assert len(set(ids)) == 7 and WALKER in ids
    for back_to in (seen[1], seen[0]):
        page.go_back()
        cards = page.locator(".result-card")
        expect(cards.first).to_have_attribute("data-track-id", back_to[0])
        expect(cards).to_have_count(3)
        assert [c.get_attribute("data-track-id") for c in cards.all()] == back_to
    assert problems == []


def correction_sent(hub: Investigation, track_id: str, timeout_s: float = 20) -> TrackCorrection:
    """The correction for ``track_id`` as it went out on the broker."""
    dlq = KafkaPublisher(hub.kafka, "ui-investigate-check")
    sub = KafkaSubscriber(hub.kafka, f"check-{uuid.uuid4().hex[:8]}", ["track_corrections"], dlq)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for item in sub.poll_batch(50, 0.5):
                if isinstance(item.event, TrackCorrection) and item.event.track_id == track_id:
                    return item.event
        raise AssertionError(f"no correction of {track_id} on track_corrections")
    finally:
        sub.close()
        dlq.close()


def test_an_investigator_merges_two_tracks_with_a_reason(
    page: Page, investigation: Investigation
) -> None:
    """Guards merging from the track page: the other track is picked from the last
    results, a reason is required, the correction really goes out on the broker with the
    user and the reason, the page says so, and the merge is audited."""
    hub = investigation
    problems = console_problems(page, ("404",))
    sign_in(page, hub.url, hub.token)
    plate_search(page, hub)
    expect(page.locator(".result-card")).to_have_count(3)
    page.goto(f"{hub.url}/#/track/{VAN}")
    expect(page.locator("#track-id")).to_have_text(VAN)
    page.click("#merge")
    dialog = page.locator(".track-dialog")
    expect(dialog).to_be_visible()
    page.select_option("#merge-recent", VAN_LATER)
    page.click(".track-dialog button[type=submit]")
    expect(dialog).to_be_visible()  # no reason yet: the form refuses
    page.fill("#correction-reason", "same van: plate AB123CD on both, 5 minutes apart")
    page.screenshot(path=str(ARTIFACTS / "track-merge-dialog-1366.png"))
    page.click(".track-dialog button[type=submit]")
    expect(dialog).to_have_count(0)
    notice = page.locator("#track-notice")
    expect(notice).to_contain_text(f"Merge with {VAN_LATER} sent")
    expect(page.locator("#history tbody tr.pending")).to_contain_text("Merge sent")
    sent = correction_sent(hub, VAN)
    assert (sent.action, sent.other_track_id, sent.user) == (
        "merge",
        VAN_LATER,
        "investigator desk 2",
    )
    assert sent.reason == "same van: plate AB123CD on both, 5 minutes apart"
    merge = actions(hub, "track.merge")[-1]
    assert merge["track"] == VAN and merge["other_track"] == VAN_LATER
    shoot(page, "track-merged")
    assert problems == []


def test_an_investigator_splits_a_camera_visit_off_with_a_reason(
    page: Page, investigation: Investigation
) -> None:
    """Guards splitting from the track page: the visits are ticked, all of them cannot
    be, a reason is required, and the correction goes out with exactly those visits."""
    hub = investigation
    sign_in(page, hub.url, hub.token)
    page.goto(f"{hub.url}/#/track/{WALKER}")
    expect(page.locator("#visits .visit")).to_have_count(2)
    page.click("#split")
    boxes = page.locator(".track-dialog input[name=tracklet]")
    expect(boxes).to_have_count(2)
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.fill("#correction-reason", "two different people in similar coats")
    page.click(".track-dialog button[type=submit]")
    expect(page.locator(".track-dialog .error")).to_contain_text("Leave at least one visit")
    boxes.nth(0).uncheck()
    page.click(".track-dialog button[type=submit]")
    expect(page.locator(".track-dialog")).to_have_count(0)
    expect(page.locator("#track-notice")).to_contain_text("Split sent")
    sent = correction_sent(hub, WALKER)
    assert (sent.action, sent.tracklets) == ("split", ("junction-north/12",))
    assert sent.reason == "two different people in similar coats"
    assert actions(hub, "track.split")[-1]["tracklets"] == ["junction-north/12"]


def test_the_export_downloads_a_case_file_that_names_its_audit_entry(
    page: Page, investigation: Investigation
) -> None:
    """Guards the export button: the browser saves a zip with track.json and the crops,
    and the file names the audit entry the page reports."""
    hub = investigation
    sign_in(page, hub.url, hub.token)
    page.goto(f"{hub.url}/#/track/{VAN}")
    expect(page.locator("#track-id")).to_have_text(VAN)
    with page.expect_download() as got:
        page.click("#export")
    download = got.value
    assert download.suggested_filename == f"case-2026-0142-track-{VAN}.zip"
    with zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes())) as archive:
        head = json.loads(archive.read("track.json"))
        names = set(archive.namelist())
    assert {"crops/junction-north/21.jpg", "crops/market-square/5.jpg"} <= names
    expect(page.locator("#track-notice")).to_contain_text(f"audit entry #{head['audit_entry_seq']}")
    assert actions(hub, "export")[-1]["track"] == VAN


def test_without_a_case_nothing_is_searched(page: Page, investigation: Investigation) -> None:
    """Guards searches sent (and crops shown) before a case and purpose are stated."""
    hub = investigation
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r))
    sign_in(page, hub.url, hub.token, case=False)
    page.goto(f"{hub.url}/#/investigate?kind=plates&pattern=AB123CD&mode=exact")
    expect(page.locator(".case-prompt")).to_be_visible()
    shoot(page, "investigate-no-case")
    page.goto(f"{hub.url}/#/track/{VAN}")
    expect(page.locator(".case-prompt")).to_be_visible()
    searched = [r.url for r in requests if "/api/search" in r.url or "/api/tracks" in r.url]
    assert searched == []


def test_a_viewer_opening_the_investigation_is_not_allowed(
    page: Page, investigation: Investigation
) -> None:
    """Guards the page hiding behind the navigation only: a viewer who types the address
    gets a clear "Not allowed", and the API refuses the search itself (403)."""
    hub = investigation
    sign_in(page, hub.url, hub.viewer, case=False)
    expect(page.locator('.nav-link[data-page="investigate"]')).to_have_count(0)
    page.goto(f"{hub.url}/#/investigate")
    expect(page.locator(".not-allowed h1")).to_have_text("Not allowed")
    expect(page.locator(".not-allowed")).to_contain_text("viewer")
    page.goto(f"{hub.url}/#/track/{VAN}")
    expect(page.locator(".not-allowed h1")).to_have_text("Not allowed")
    shoot(page, "investigate-viewer")
    why = {"case": CASE[0], "purpose": CASE[1], "pattern": "AB123CD"}
    answer = httpx.get(
        f"{hub.url}/api/search/plates",
        params=why,
        headers={"Authorization": f"Bearer {hub.viewer}"},
    )
    assert answer.status_code == 403
    export = httpx.get(
        f"{hub.url}/api/tracks/{VAN}/export",
        params=why,
        headers={"Authorization": f"Bearer {hub.viewer}"},
    )
    assert export.status_code == 403


def test_a_merge_on_a_hub_without_a_bus_says_why_it_failed(page: Page, hub: Hub) -> None:
    """Guards a merge that fails silently (or with a bare status code) where the API has
    no bus publisher: the page names the reason the API gives."""
    sign_in(page, hub.url, hub.token)
    cross = hub.track_ids[1]  # seen on two cameras
    page.goto(f"{hub.url}/#/track/{cross}")
    expect(page.locator("#visits .visit")).to_have_count(2)
    page.click("#merge")
    page.fill("#merge-other", hub.track_ids[0])
    page.fill("#correction-reason", "same car on both cameras")
    page.click(".track-dialog button[type=submit]")
    notice = page.locator("#track-notice")
    expect(notice).to_contain_text("The merge was not sent: corrections need the bus")
    expect(notice).to_have_class("track-notice notice-error")
