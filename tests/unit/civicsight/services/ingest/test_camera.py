"""One camera's loop on a real (tiny) video file: every frame read is counted for the
camera, and every frame not sent is counted with why."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from civicsight.cameras import CameraConfig
from civicsight.events import Frame
from civicsight.metrics import PrometheusMetrics
from civicsight.services.ingest.camera import run_camera


def tiny_video(path: Path, frames: int, fps: float) -> None:
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (64, 48))
    for i in range(frames):
        out.write(np.full((48, 64, 3), i * 10 % 255, np.uint8))
    out.release()


def test_frames_read_and_dropped_are_counted_per_camera(tmp_path: Path) -> None:
    """Guards the ingest metrics: frames read per camera, and the ones the sampler let
    go (a 20 fps file for a 5 fps camera: three of four) counted as dropped for
    sampling, never as sent."""
    tiny_video(tmp_path / "tiny.avi", 12, 20.0)
    cam = CameraConfig(id="gate-1", name="Gate", source="media:tiny.avi", fps=5, loop=False)
    sent: list[Frame] = []
    metrics = PrometheusMetrics()
    run_camera(cam, tmp_path, sent.append, threading.Event(), metrics)
    text = metrics.exposition().decode()
    assert len(sent) == 3
    assert 'civicsight_ingest_frames_total{camera="gate-1"} 12.0' in text
    assert 'civicsight_ingest_frames_dropped_total{camera="gate-1",reason="sampling"} 9.0' in text
    assert 'civicsight_ingest_frames_dropped_total{camera="gate-1",reason="encoding"} 0.0' in text
