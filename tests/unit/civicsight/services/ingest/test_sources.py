"""Frame sources on real media: looping files, image folders, RTSP reconnects."""

from __future__ import annotations

import itertools
import logging
import shutil
import threading
from pathlib import Path

import pytest

from civicsight.services.ingest.sources import (
    SourceError,
    image_folder_frames,
    rtsp_frames,
    video_frames,
)
from civicsight.stack import free_port


def test_video_file_loops_with_increasing_media_time(media_mirror: Path) -> None:
    """Guards against a looped file restarting its clock (the sampler would stall)."""
    stop = threading.Event()
    frames = list(
        itertools.islice(video_frames(media_mirror / "car-detection.mp4", True, stop), 400)
    )
    times = [t for t, _ in frames]
    assert len(frames) == 400  # the file has 377 frames: it looped
    assert all(b > a for a, b in itertools.pairwise(times))
    assert frames[0][1].shape == (432, 768, 3)


def test_video_file_without_loop_ends(media_mirror: Path) -> None:
    n = sum(1 for _ in video_frames(media_mirror / "car-detection.mp4", False, threading.Event()))
    assert 370 <= n <= 380


@pytest.mark.parametrize("loop", [False, True])
def test_image_folder_plays_its_images(media_mirror: Path, tmp_path: Path, loop: bool) -> None:
    for name in ("bus.jpg", "zidane.jpg"):
        shutil.copy(media_mirror / name, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    frames = list(itertools.islice(image_folder_frames(tmp_path, 2.0, loop, threading.Event()), 5))
    assert len(frames) == (5 if loop else 2)
    assert [t for t, _ in frames[:2]] == [0.0, 0.5]


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no images"):
        next(image_folder_frames(tmp_path, 1.0, True, threading.Event()))


def test_unreachable_rtsp_retries_with_backoff_and_hides_the_password(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camera that is down must not crash ingest, and its password never reaches logs."""
    monkeypatch.setenv("CIVICSIGHT_CAMERA_NETWORKS", "private,loopback")  # a lab camera
    stop = threading.Event()
    url = f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/stream"
    got: list[object] = []
    caplog.set_level(logging.INFO)
    thread = threading.Thread(target=lambda: got.extend(rtsp_frames(url, stop, max_backoff=1.0)))
    thread.start()
    stop.wait(4.0)
    stop.set()
    thread.join(30)
    assert not thread.is_alive() and got == []
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) >= 2
    assert all("hunter2" not in r.getMessage() for r in caplog.records)
    assert "rtsp://***@127.0.0.1" in retries[0]


def test_a_loopback_camera_is_refused_unless_the_site_allows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Guards against a camera URL making ingest connect to services on the hub itself."""
    monkeypatch.setenv("CIVICSIGHT_CAMERA_NETWORKS", "private")
    with pytest.raises(SourceError, match="loopback"):
        next(rtsp_frames("rtsp://admin:hunter2@127.0.0.1:1/x", threading.Event()))
