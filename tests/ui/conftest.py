"""A real API (uvicorn in a thread) over a tmp store, two cameras and live frames from the
shared sample video, plus Debian's chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.cameras import CameraConfig, Position
from civicsight.events import (
    Box,
    Frame,
    FrameDetections,
    ObjectClass,
    TrackletRef,
    TrackUpdate,
    global_track_id,
)
from civicsight.services.api import live_ws
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.feed import Feed
from civicsight.services.api.live import LiveView
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.users import UserStore
from tests.support import media_file, serving

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).parent / "artifacts"
SECRET = "ui-test-pa55word"


def encode(image: np.ndarray, quality: int = 82) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


BoxXYWH = tuple[int, int, int, int]


@dataclass(frozen=True)
class ClipFrame:
    """One frame of the clip as JPEG (and mirrored, for the simulated camera) with the
    tracked boxes of the cars in it."""

    jpeg: bytes
    mirrored: bytes
    width: int
    height: int
    boxes: tuple[tuple[BoxXYWH, int], ...]  # (x, y, w, h), tracker id


def _gray(image: np.ndarray) -> np.ndarray:
    g = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.int16)
    return g - int(np.median(g))  # the clip's exposure drifts


def _merge(boxes: list[BoxXYWH]) -> list[BoxXYWH]:
    """Join the pieces of one car (a roof split from its bonnet by reflections)."""
    out: list[BoxXYWH] = []
    for x, y, w, h in sorted(boxes, key=lambda b: b[1]):
        for k, (ox, oy, ow, oh) in enumerate(out):
            overlap = min(x + w, ox + ow) - max(x, ox)
            if overlap > 0.5 * min(w, ow) and y - (oy + oh) < 30:
                nx, ny = min(x, ox), min(y, oy)
                out[k] = (nx, ny, max(x + w, ox + ow) - nx, max(y + h, oy + oh) - ny)
                break
        else:
            out.append((x, y, w, h))
    return out


def load_clip(path: Path) -> list[ClipFrame]:
    """The frames of the overhead car video that show cars, with boxes from background
    subtraction against the clip's median road and a nearest-centre tracker."""
    cap = cv2.VideoCapture(str(path))
    samples: list[np.ndarray] = []
    n = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        if n % 4 == 0:
            samples.append(_gray(image))
        n += 1
    cap.release()
    assert samples, f"no frames decoded from {path}"
    road = np.median(np.stack(samples), axis=0)
    del samples
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    cap = cv2.VideoCapture(str(path))
    frames: list[ClipFrame] = []
    tracks: dict[int, tuple[float, float]] = {}
    next_id = 1
    while True:
        ok, image = cap.read()
        if not ok:
            break
        mask = (np.abs(_gray(image) - road) > 45).astype(np.uint8) * 255
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel, iterations=2)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        rects = [cv2.boundingRect(c) for c in contours if cv2.contourArea(c) > 2500]
        found = _merge([(int(x), int(y), int(w), int(h)) for x, y, w, h in rects])
        if not found:
            tracks.clear()
            continue
        boxes: list[tuple[BoxXYWH, int]] = []
        taken: set[int] = set()
        for x, y, w, h in found:
            cx, cy = x + w / 2, y + h / 2
            near = [
                (abs(cx - px) + abs(cy - py), tid)
                for tid, (px, py) in tracks.items()
                if tid not in taken
            ]
            dist, tid = min(near, default=(1e9, 0))
            if dist > 80:
                tid, next_id = next_id, next_id + 1
            taken.add(tid)
            tracks[tid] = (cx, cy)
            boxes.append(((x, y, w, h), tid))
        for tid in [t for t in tracks if t not in taken]:
            del tracks[tid]
        h, w = image.shape[:2]
        frames.append(ClipFrame(encode(image), encode(cv2.flip(image, 1)), w, h, tuple(boxes)))
    cap.release()
    assert frames, f"no cars found in {path}"
    return frames


class Feeder:
    """Offers the clip to the LiveView as two cameras at ~5 fps, like ingest + detect do;
    the simulated camera shows the clip mirrored and later in time."""

    def __init__(self, live: LiveView, clip: list[ClipFrame]) -> None:
        self.live = live
        self.clip = clip
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="ui-feeder", daemon=True)

    def offer(self, camera_id: str, seq: int, frame: ClipFrame, mirror: bool) -> None:
        now = time.time()
        w, h = frame.width, frame.height
        self.live.offer_frame(
            Frame(
                camera_id=camera_id,
                seq=seq,
                captured_at=now,
                width=w,
                height=h,
                jpeg=frame.mirrored if mirror else frame.jpeg,
            )
        )
        self.live.offer_detections(
            FrameDetections(
                camera_id=camera_id,
                seq=seq,
                captured_at=now,
                width=w,
                height=h,
                model="ui-test-background@1",
                detected_at=now,
                boxes=tuple(
                    Box(
                        x1=(w - x - bw) if mirror else x,
                        y1=y,
                        x2=(w - x) if mirror else x + bw,
                        y2=y + bh,
                        cls="car",
                        conf=0.9,
                        track_id=tid + (100 if mirror else 0),
                    )
                    for (x, y, bw, bh), tid in frame.boxes
                ),
            )
        )

    def run(self) -> None:
        n = len(self.clip)
        seq = 0
        while not self.stop.is_set():
            self.offer("junction-north", seq, self.clip[(2 * seq) % n], False)
            self.offer("harbour-sim", seq, self.clip[(2 * seq + n // 2) % n], True)
            seq += 1
            self.stop.wait(0.2)


TRACKS: list[tuple[ObjectClass, tuple[str, ...], bool]] = [  # oldest first
    ("car", ("junction-north",), True),
    ("car", ("harbour-sim", "junction-north"), True),
    ("person", ("junction-north",), True),
    ("bus", ("harbour-sim",), True),
    ("truck", ("junction-north",), True),
    ("bicycle", ("harbour-sim",), False),
    ("car", ("harbour-sim",), False),
]


def car_crops(clip: list[ClipFrame], count: int = 3) -> list[np.ndarray]:
    """Whole views of ``count`` different cars (boxes clear of the frame's edges)."""
    out: list[np.ndarray] = []
    used: set[int] = set()
    for frame in clip:
        for (x, y, w, h), tid in frame.boxes:
            inside = x > 4 and y > 4 and x + w < frame.width - 4 and y + h < frame.height - 4
            if tid in used or not inside or w * h < 12_000:
                continue
            image = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert image is not None
            out.append(image[y : y + h, x : x + w])
            used.add(tid)
            if len(out) == count:
                return out
    assert out, "no whole car in the clip"
    return out


def fill_store(store: SqliteTrackStore, clip: list[ClipFrame]) -> list[str]:
    bus = cv2.imread(str(media_file("bus.jpg")))
    assert bus is not None
    cars = car_crops(clip)
    crops: dict[int, np.ndarray] = {2: bus[400:905, 48:245], 3: bus[230:750, 20:800]}
    crops.update({i: cars[n % len(cars)] for n, i in enumerate((0, 1, 6))})
    now = time.time()
    ids = []
    for i, (cls, cams, closed) in enumerate(TRACKS):
        first, last = now - 600 + 70 * i, now - 590 + 80 * i
        track_id = global_track_id(cams[0], 10 + i)
        crop = crops.get(i)
        store.upsert(
            TrackUpdate(
                track_id=track_id,
                version=1 + i % 3,
                cls=cls,
                tracklets=tuple(
                    TrackletRef(camera_id=c, track_id=10 + n, first_seen=first, last_seen=last)
                    for n, c in enumerate(cams)
                ),
                first_seen=first,
                last_seen=last,
                closed=closed,
                best_crop_jpeg=encode(crop) if crop is not None else None,
                emitted_at=last,
            ),
            stored_at=now,
        )
        ids.append(track_id)
    return ids


@dataclass(frozen=True)
class Hub:
    url: str
    token: str
    track_ids: list[str]
    cameras: list[CameraConfig]
    tokens: TokenStore
    users: UserStore
    live: LiveView | None = None
    feed: Feed | None = None
    trail: AuditLog | None = None


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    tmp = tmp_path_factory.mktemp("ui-hub")
    store = SqliteTrackStore(tmp / "tracks.db")
    tokens = TokenStore(tmp / "auth.db")
    users = UserStore(tmp / "auth.db")
    store.open()
    tokens.open()
    users.open()
    clip = load_clip(media_file("car-detection.mp4"))
    track_ids = fill_store(store, clip)
    token = tokens.issue(Role.INVESTIGATOR, "investigator desk 1")
    cameras = [
        CameraConfig(
            id="junction-north",
            name="Junction North",
            source=f"rtsp://viewer:{SECRET}@192.0.2.10:554/h264",
            fps=5,
            position=Position(x_m=0.0, y_m=120.0),
        ),
        CameraConfig(
            id="harbour-sim",
            name="Harbour Road",
            source="media:car-detection.mp4",
            simulated=True,
            transform="mirror",
            fps=5,
            position=Position(x_m=340.0, y_m=0.0),
        ),
    ]
    live = LiveView()
    feed = Feed()
    # a revoked token closes a live wall at the next check: soon, in these tests
    checks = pytest.MonkeyPatch()
    checks.setattr(live_ws, "RECHECK_S", 1.0)
    feeder = Feeder(live, clip)
    feeder.thread.start()
    trail = AuditLog(tmp)
    trail.open()
    app = create_app(
        ApiState(
            store=store,
            tokens=tokens,
            audit=trail,
            cameras=CameraRegistry(cameras),
            live=live,
            users=users,
            feed=feed,
        )
    )
    try:
        with serving(app) as url:
            yield Hub(url, token, track_ids, cameras, tokens, users, live, feed, trail)
    finally:
        checks.undo()
        feeder.stop.set()
        feeder.thread.join(5)
        store.close()
        tokens.close()
        users.close()
        trail.close()


# ---- the back office: audit, administration and the public transparency page ------------


GATE_CAMERA = f"""# Gate camera of the depot (a real RTSP camera: its credentials are never shown)
id: depot-gate
name: Depot gate
source: rtsp://viewer:{SECRET}@192.0.2.20:554/h264
fps: 5
position: {{x_m: 60, y_m: 120}}
analytics: {{detect: true, plates: true}}
"""


@dataclass(frozen=True)
class OfficeHub:
    """A hub for the back-office pages: camera files the API may rewrite, users, tokens and
    the real audit log (searches are made through the API itself)."""

    url: str
    tokens: TokenStore
    users: UserStore
    trail: AuditLog
    cameras_dir: Path
    track_ids: list[str]


def office_tracks(store: SqliteTrackStore, now: float) -> list[str]:
    """Six plain tracks of the last hour (no crops: these pages show none)."""
    ids = []
    for i, (cls, camera) in enumerate(
        [("car", "street"), ("person", "walkway"), ("person", "walkway-exit"),
         ("car", "depot-gate"), ("truck", "depot-gate"), ("person", "plaza")]
    ):  # fmt: skip
        first = now - 3600 + 300 * i
        track_id = global_track_id(camera, 200 + i)
        store.upsert(
            TrackUpdate(
                track_id=track_id,
                version=1,
                cls=cls,  # type: ignore[arg-type]
                tracklets=(
                    TrackletRef(
                        camera_id=camera, track_id=200 + i, first_seen=first, last_seen=first + 40
                    ),
                ),
                first_seen=first,
                last_seen=first + 40,
                closed=True,
                emitted_at=first + 41,
            ),
            stored_at=now,
        )
        ids.append(track_id)
    return ids


@contextlib.contextmanager
def office(tmp: Path) -> Iterator[OfficeHub]:
    """The back-office hub over ``tmp``, served on a free port (also used to look at the
    pages by hand)."""
    from civicsight.cameras import load_cameras

    folder = tmp / "cameras"
    folder.mkdir()
    for src in sorted((REPO / "civicsight" / "data" / "demo_cameras").glob("*.yaml")):
        shutil.copyfile(src, folder / src.name)
    (folder / "depot-gate.yaml").write_text(GATE_CAMERA)
    store = SqliteTrackStore(tmp / "tracks.db")
    tokens = TokenStore(tmp / "auth.db")
    users = UserStore(tmp / "auth.db")
    trail = AuditLog(tmp)
    for part in (store, tokens, users, trail):
        part.open()
    try:
        track_ids = office_tracks(store, time.time())
        cameras = load_cameras(folder)
        app = create_app(
            ApiState(
                store=store,
                tokens=tokens,
                audit=trail,
                cameras=CameraRegistry(cameras, folder),
                users=users,
            )
        )
        with serving(app) as url:
            yield OfficeHub(url, tokens, users, trail, folder, track_ids)
    finally:
        for part in (store, tokens, users, trail):
            part.close()


@pytest.fixture(scope="module")
def office_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfficeHub]:
    with office(tmp_path_factory.mktemp("office")) as hub:
        yield hub


PAGE_TIMEOUT_MS = 20_000


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies, no storage) at 1366x768, for one test."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    p = context.new_page()
    p.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield p
    finally:
        context.close()


def console_problems(page: Page, expected: tuple[str, ...] = ()) -> list[str]:
    """Console errors and uncaught exceptions as they happen (CSP violations show up here
    too); errors mentioning one of ``expected`` (an API refusal the test provokes, such as
    "401" or "404") are not problems."""
    found: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error" and not any(e in msg.text for e in expected):
            found.append(f"console: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda err: found.append(f"pageerror: {err}"))
    return found


def shot(page: Page, name: str) -> None:
    """A screenshot in tests/ui/artifacts/ (kept by CI, looked at when pages change)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
