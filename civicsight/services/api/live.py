"""Live tiles: the latest frame of each camera with its boxes drawn on, and the latest
rule hits (counting lines crossed, zones entered and left).

``LiveView`` is pure and thread-safe: it is offered frames and detections in any order
and pairs them by camera, sequence number and capture time; it keeps the newest rule
hits in a numbered ring (``rule_hits``) for pages that poll. ``LiveFeed`` feeds it from
the ``frames``, ``detections`` and ``rule_hits`` topics in a background thread, and the
control room's event feed (``services.api.feed``) from those and ``track_updates``,
``face_matches`` and ``heartbeats``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from civicsight.bus import Subscriber
from civicsight.cameras import CameraConfig
from civicsight.events import Box, Event, Frame, FrameDetections, RuleHit
from civicsight.services.api.feed import Feed
from civicsight.services.api.recent import Recent
from civicsight.services.api.redact import redact_faces

log = logging.getLogger("api.live")

V = TypeVar("V")
FrameKey = tuple[int, float]  # (seq, captured_at): seq restarts when ingest restarts

CLASS_COLOURS: dict[str, tuple[int, int, int]] = {  # BGR
    "person": (80, 200, 255),
    "bicycle": (255, 200, 80),
    "car": (120, 230, 120),
    "motorcycle": (230, 120, 230),
    "bus": (80, 140, 255),
    "truck": (255, 140, 80),
}


@dataclass
class _Camera:
    frames: OrderedDict[FrameKey, Frame] = field(default_factory=OrderedDict)
    detections: OrderedDict[FrameKey, FrameDetections] = field(default_factory=OrderedDict)
    cached: dict[bool, tuple[FrameKey, bool, bytes]] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveFrame:
    """The frame a tile shows and the detections paired with it (None: none yet)."""

    frame: Frame
    detections: FrameDetections | None


def _key(event: Frame | FrameDetections) -> FrameKey:
    return (event.seq, event.captured_at)


def _push(ring: OrderedDict[FrameKey, V], key: FrameKey, value: V, size: int) -> None:
    ring[key] = value
    ring.move_to_end(key)
    while len(ring) > size:
        ring.popitem(last=False)


RULE_HITS_KEPT = 200


class LiveView:
    """Latest frame and detections per camera, kept in small rings (``ring`` frames), and
    the newest ``hits`` rule hits of all cameras."""

    def __init__(
        self,
        ring: int = 16,
        jpeg_quality: int = 80,
        redactor: Redactor | None = None,
        hits: int = RULE_HITS_KEPT,
    ) -> None:
        if ring < 1:
            raise ValueError("ring must be at least 1")
        self.ring = ring
        self.jpeg_quality = jpeg_quality
        self.redactor = redactor
        self.rule_hits: Recent[RuleHit] = Recent(hits)
        self._cameras: dict[str, _Camera] = {}
        self._lock = threading.Lock()

    def _camera(self, camera_id: str) -> _Camera:
        cam = self._cameras.get(camera_id)
        if cam is None:
            cam = self._cameras[camera_id] = _Camera()
        return cam

    def offer_frame(self, frame: Frame) -> None:
        with self._lock:
            cam = self._camera(frame.camera_id)
            _push(cam.frames, _key(frame), frame, self.ring)

    def offer_detections(self, detections: FrameDetections) -> None:
        with self._lock:
            cam = self._camera(detections.camera_id)
            _push(cam.detections, _key(detections), detections, self.ring)

    def last_captured_at(self, camera_id: str) -> float | None:
        """Capture time of the camera's newest frame; None before any."""
        with self._lock:
            cam = self._cameras.get(camera_id)
            if cam is None or not cam.frames:
                return None
            return max(f.captured_at for f in cam.frames.values())

    def cameras(self) -> list[str]:
        with self._lock:
            return sorted(c for c, cam in self._cameras.items() if cam.frames)

    def latest(self, camera_id: str) -> LiveFrame | None:
        """The newest frame that has its detections while one is still in the ring (so
        boxes do not flicker while detection lags), else the newest frame."""
        with self._lock:
            cam = self._cameras.get(camera_id)
            if cam is None or not cam.frames:
                return None
            for key in reversed(cam.frames):
                dets = cam.detections.get(key)
                if dets is not None:
                    return LiveFrame(cam.frames[key], dets)
            newest = next(reversed(cam.frames))
            return LiveFrame(cam.frames[newest], None)

    def annotated_jpeg(self, camera_id: str) -> bytes | None:
        """The latest frame as JPEG with boxes and "cls #id" labels; None before any frame."""
        found = self.annotated(camera_id)
        return found[0] if found else None

    def annotated(self, camera_id: str, redact: bool = False) -> tuple[bytes, LiveFrame] | None:
        """``annotated_jpeg`` with the frame it shows (for its capture time and number);
        ``redact``: faces blurred (fails closed: without a redactor, heads of person boxes
        are still blurred). The drawing is cached per variant, so many viewers of one
        camera cost one encoding per frame."""
        live = self.latest(camera_id)
        if live is None:
            return None
        key, paired = _key(live.frame), live.detections is not None
        with self._lock:
            cached = self._cameras[camera_id].cached.get(redact)
        if cached is not None and cached[0] == key and cached[1] == paired:
            return cached[2], live
        redactor = (self.redactor or heads_only) if redact else None
        jpeg = draw_detections(live.frame, live.detections, self.jpeg_quality, redactor)
        with self._lock:
            self._cameras[camera_id].cached[redact] = (key, paired, jpeg)
        return jpeg, live


def _label(box: Box) -> str:
    return box.cls if box.track_id is None else f"{box.cls} #{box.track_id}"


Redactor = Callable[[np.ndarray, list[Box]], np.ndarray]


def heads_only(image: np.ndarray, boxes: list[Box]) -> np.ndarray:
    return redact_faces(image, boxes, None)


def draw_detections(
    frame: Frame,
    detections: FrameDetections | None,
    jpeg_quality: int = 80,
    redact: Redactor | None = None,
) -> bytes:
    """Draw ``detections`` onto ``frame``; returns the frame's JPEG unchanged if it has none
    or cannot be decoded. With ``redact``, faces are blurred first, and a frame that cannot
    be decoded (so cannot be blurred) is replaced by a grey one."""
    boxes = detections.boxes if detections is not None else ()
    if redact is None and not boxes:
        return frame.jpeg
    image = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        log.warning("camera %s: frame %d is not a decodable JPEG", frame.camera_id, frame.seq)
        if redact is None:
            return frame.jpeg
        image = np.full((frame.height, frame.width, 3), 96, np.uint8)
        redact, boxes = None, ()
    h, w = image.shape[:2]
    sx = w / detections.width if detections is not None else 1.0
    sy = h / detections.height if detections is not None else 1.0
    if redact is not None:
        scaled = [
            b.model_copy(
                update={"x1": b.x1 * sx, "x2": b.x2 * sx, "y1": b.y1 * sy, "y2": b.y2 * sy}
            )
            for b in boxes
        ]
        image = redact(image, scaled)
    thick = max(1, round(min(w, h) / 400))
    scale = max(0.5, min(w, h) / 720)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for box in boxes:
        colour = CLASS_COLOURS.get(box.cls, (255, 255, 255))
        x1, y1 = round(box.x1 * sx), round(box.y1 * sy)
        x2, y2 = round(box.x2 * sx), round(box.y2 * sy)
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, thick + 1, cv2.LINE_AA)
        text = _label(box)
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
        ty = y1 - 4 if y1 - th - base - 4 >= 0 else y1 + th + base + 4
        cv2.rectangle(image, (x1, ty - th - base), (x1 + tw + 6, ty + base // 2), colour, -1)
        cv2.putText(
            image, text, (x1 + 3, ty - base // 2), font, scale, (20, 20, 20), thick, cv2.LINE_AA
        )
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    return buf.tobytes() if ok else frame.jpeg


class LiveFeed:
    """Feeds a LiveView from the bus in a background thread. Lifecycle: start() ... stop().

    ``subscribe`` builds the subscriber (in main: a KafkaSubscriber on ``TOPICS`` in a
    consumer group of its own, reading from "latest"); live tiles need no offsets, so
    none are stored.
    """

    TOPICS = ("frames", "detections", "rule_hits", "track_updates", "face_matches", "heartbeats")

    def __init__(
        self,
        subscribe: Callable[[], Subscriber],
        live: LiveView,
        retry_s: float = 2.0,
        feed: Feed | None = None,
    ) -> None:
        self._subscribe = subscribe
        self._live = live
        self._feed = feed
        self._retry_s = retry_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.received = 0

    @staticmethod
    def group_id() -> str:
        return f"api-live-{uuid.uuid4().hex[:12]}"

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("live feed already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="api-live", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("live feed did not stop within %.0fs", timeout)
            self._thread = None

    def _handle(self, event: object) -> None:
        if isinstance(event, Frame):
            self._live.offer_frame(event)
        elif isinstance(event, FrameDetections):
            self._live.offer_detections(event)
        elif isinstance(event, RuleHit):
            self._live.rule_hits.add(event)
        if self._feed is not None and isinstance(event, Event):
            self._feed.offer(event)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sub = self._subscribe()
            except Exception:
                log.exception("live feed: cannot subscribe; retrying in %.0fs", self._retry_s)
                self._stop.wait(self._retry_s)
                continue
            try:
                while not self._stop.is_set():
                    for item in sub.poll_batch(64, 0.2):
                        self._handle(item.event)
                        self.received += 1
            except Exception:
                log.exception("live feed: polling failed; reconnecting in %.0fs", self._retry_s)
                self._stop.wait(self._retry_s)
            finally:
                try:
                    sub.close()
                except Exception:
                    log.exception("live feed: closing the subscriber failed")


LIVE_S = 5.0
"""A camera whose newest frame is younger than this is live; then stale up to OFFLINE_S."""
OFFLINE_S = 30.0


class CameraState(BaseModel):
    """A camera's state as the control room shows it (health, the live socket)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    camera_id: str
    state: str = Field(description="live, stale, offline or waiting (no frame yet)")
    age_s: float | None = Field(description="seconds since the newest frame was captured")


def camera_states(cameras: Sequence[CameraConfig], live: LiveView, now: float) -> list[CameraState]:
    out = []
    for cam in cameras:
        at = live.last_captured_at(cam.id)
        if at is None:
            out.append(CameraState(camera_id=cam.id, state="waiting", age_s=None))
            continue
        age = max(0.0, now - at)
        state = "live" if age < LIVE_S else "stale" if age < OFFLINE_S else "offline"
        out.append(CameraState(camera_id=cam.id, state=state, age_s=round(age, 1)))
    return out
