"""One camera's loop: its source -> frames sampled at the camera's rate -> scaled, the
simulated view applied -> JPEG ``Frame``s, emitted in order. Files play at their own speed
(a file source is a stand-in for a live camera). Each frame read is counted for the
camera, and each one not sent with why (``sampling``: above the camera's rate;
``encoding``: the JPEG encoder failed)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2

from civicsight.cameras import CameraConfig
from civicsight.events import Frame
from civicsight.metric_names import FRAMES_DROPPED, FRAMES_IN
from civicsight.runtime import Metrics, Tally
from civicsight.services.ingest.logic import FrameSampler, scale_to_width, transform_view
from civicsight.services.ingest.sources import open_source

log = logging.getLogger("ingest")
DROP_REASONS = ("sampling", "encoding")


def run_camera(
    cam: CameraConfig,
    media_root: Path,
    emit: Callable[[Frame], None],
    stop: threading.Event,
    metrics: Metrics | None = None,
) -> None:
    """Emit the camera's frames until its source ends or ``stop`` is set; a source that
    fails for good raises ``SourceError``."""
    metrics = metrics if metrics is not None else Tally()
    metrics.count(FRAMES_IN, 0, camera=cam.id)
    for reason in DROP_REASONS:
        metrics.count(FRAMES_DROPPED, 0, camera=cam.id, reason=reason)
    if stop.wait(cam.start_delay_s):
        return
    sampler = FrameSampler(cam.fps)
    seq = 0
    t0: float | None = None
    wall0 = time.monotonic()
    live = cam.source.get_secret_value().startswith("rtsp")
    log.info("camera %s (%s) from %s at %.1f fps", cam.id, cam.name, cam.redacted_source, cam.fps)
    for t, image in open_source(cam, media_root, stop):
        metrics.count(FRAMES_IN, camera=cam.id)
        if not sampler.take(t):
            metrics.count(FRAMES_DROPPED, camera=cam.id, reason="sampling")
            continue
        if not live:  # play files at their own speed
            if t0 is None:
                t0, wall0 = t, time.monotonic()
            if stop.wait(max(0.0, (t - t0) - (time.monotonic() - wall0))):
                break
        h, w = image.shape[:2]
        nw, nh = scale_to_width(w, h, cam.max_width)
        if (nw, nh) != (w, h):
            image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        image = transform_view(image, cam.transform)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, cam.jpeg_quality])
        if not ok:
            log.warning("camera %s: JPEG encoding failed", cam.id)
            metrics.count(FRAMES_DROPPED, camera=cam.id, reason="encoding")
            continue
        emit(
            Frame(
                camera_id=cam.id,
                seq=seq,
                captured_at=time.time(),
                width=nw,
                height=nh,
                jpeg=jpeg.tobytes(),
            )
        )
        seq += 1
