"""Frame sources: video files (looped), RTSP streams (reconnect with backoff), image folders.

Each yields (media_time_seconds, BGR image). Only this module opens media.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

from civicsight.cameras import (
    CameraConfig,
    CameraConfigError,
    check_network_source,
    redact_url,
    resolve_media_path,
)

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


class SourceError(RuntimeError):
    pass


def video_frames(
    path: Path, loop: bool, stop: threading.Event
) -> Iterator[tuple[float, np.ndarray]]:
    offset = 0.0
    while not stop.is_set():
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise SourceError(f"cannot open video {path.name}")
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        if not 1 <= fps <= 240:
            fps = 25.0
        n = 0
        while not stop.is_set():
            ok, image = cap.read()
            if not ok:
                break
            yield offset + n / fps, image
            n += 1
        cap.release()
        if n == 0:
            raise SourceError(f"video {path.name} has no frames")
        if not loop:
            return
        offset += n / fps


def image_folder_frames(
    folder: Path, fps: float, loop: bool, stop: threading.Event
) -> Iterator[tuple[float, np.ndarray]]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(f"no images in {folder.name}")
    t = 0.0
    while not stop.is_set():
        for path in files:
            image = cv2.imread(str(path))
            if image is None:
                log.warning("skipping unreadable image %s", path.name)
                continue
            yield t, image
            t += 1.0 / fps
        if not loop:
            return


def rtsp_frames(
    url: str, stop: threading.Event, max_backoff: float = 30.0
) -> Iterator[tuple[float, np.ndarray]]:
    shown = redact_url(url)
    backoff = 1.0
    while not stop.is_set():
        try:
            check_network_source(url)  # before every connect: a DNS answer can change
        except CameraConfigError as err:
            raise SourceError(str(err)) from None
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            log.warning("cannot open %s; retrying in %.0fs", shown, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff)
            continue
        log.info("connected to %s", shown)
        backoff = 1.0
        while not stop.is_set():
            ok, image = cap.read()
            if not ok:
                log.warning("stream %s dropped; reconnecting", shown)
                break
            yield time.time(), image
        cap.release()


def open_source(
    cam: CameraConfig, media_root: Path, stop: threading.Event
) -> Iterator[tuple[float, np.ndarray]]:
    url = cam.source.get_secret_value()
    scheme = urlsplit(url).scheme
    if scheme in ("rtsp", "rtsps"):
        return rtsp_frames(url, stop)
    path = resolve_media_path(url, media_root)
    if path.is_dir():
        return image_folder_frames(path, cam.fps, cam.loop, stop)
    return video_frames(path, cam.loop, stop)
