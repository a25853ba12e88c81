"""Ingest service: camera sources -> sampled JPEG frames on the ``frames`` topic."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2

from civicsight.bus import KafkaPublisher, Publisher, heartbeats, stop_on_signals
from civicsight.cameras import CameraConfig, CameraConfigError, load_cameras
from civicsight.events import Frame
from civicsight.logs import setup_logging
from civicsight.services.ingest.logic import FrameSampler, scale_to_width, transform_view
from civicsight.services.ingest.sources import SourceError, open_source
from civicsight.settings import CameraFiles, HubSettings, MediaSource

log = logging.getLogger("ingest")


class IngestSettings(HubSettings, CameraFiles, MediaSource):
    """Ingest: the camera files and the media root; nothing of its own."""


def run_camera(
    cam: CameraConfig,
    media_root: Path,
    bus: Publisher,
    lock: threading.Lock,
    stop: threading.Event,
    on_sent: Callable[[], None] = lambda: None,
) -> None:
    if stop.wait(cam.start_delay_s):
        return
    sampler = FrameSampler(cam.fps)
    seq = 0
    t0: float | None = None
    wall0 = time.monotonic()
    live = cam.source.get_secret_value().startswith("rtsp")
    log.info("camera %s (%s) from %s at %.1f fps", cam.id, cam.name, cam.redacted_source, cam.fps)
    for t, image in open_source(cam, media_root, stop):
        if not sampler.take(t):
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
            continue
        frame = Frame(
            camera_id=cam.id,
            seq=seq,
            captured_at=time.time(),
            width=nw,
            height=nh,
            jpeg=jpeg.tobytes(),
        )
        with lock:
            bus.publish("frames", cam.id, frame)
            on_sent()
        seq += 1


def main() -> None:
    settings = IngestSettings()
    setup_logging(settings.log_level)
    try:
        cameras = load_cameras(settings.cameras_dir)
    except CameraConfigError as err:
        raise SystemExit(f"ingest: {err}") from None
    if not cameras:
        raise SystemExit(f"no camera files (*.yaml) in {settings.cameras_dir}")
    stop = stop_on_signals()
    bus = KafkaPublisher(settings.kafka_config(), "ingest")
    lock = threading.Lock()
    failed: list[str] = []
    beats = heartbeats("ingest", bus)
    sent = [0]

    def count() -> None:  # called under ``lock``
        sent[0] += 1

    def guarded(cam: CameraConfig) -> None:
        try:
            run_camera(cam, settings.media_root, bus, lock, stop, count)
        except SourceError as err:
            log.error("camera %s stopped: %s", cam.id, err)
            failed.append(cam.id)

    threads = [threading.Thread(target=guarded, args=(c,), name=c.id, daemon=True) for c in cameras]
    for th in threads:
        th.start()
    while not stop.is_set() and any(th.is_alive() for th in threads):
        stop.wait(1.0)
        with lock:
            beats.beat(sent[0])
            sent[0] = 0
            bus.flush(30)
    stop.set()
    for th in threads:
        th.join(5)
    bus.close()
    if failed:
        raise SystemExit(f"cameras failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
