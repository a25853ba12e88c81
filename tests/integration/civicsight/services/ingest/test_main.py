"""The ingest service as a process: a planted RTSP password never appears in its logs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from civicsight.stack import free_port

REPO = Path(__file__).resolve().parents[5]


def test_a_planted_rtsp_password_never_reaches_the_log(tmp_path: Path) -> None:
    """Run ingest (DEBUG logging) against a camera that is down, with a password and a
    token in its URL; guards against either ever being printed, while the camera is
    still named in the log."""
    cameras = tmp_path / "cameras"
    cameras.mkdir()
    url = f"rtsp://admin:Hunter2Secret@127.0.0.1:{free_port()}/s?token=QwertySecret9"
    (cameras / "gate.yaml").write_text(f"id: gate\nname: Gate\nsource: '{url}'\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CIVICSIGHT_CAMERAS_DIR": str(cameras),
        "CIVICSIGHT_CAMERA_NETWORKS": "private,loopback",
        "CIVICSIGHT_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "CIVICSIGHT_LOG_LEVEL": "DEBUG",
        "CIVICSIGHT_MEDIA_MIRROR": str(tmp_path),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "civicsight.services.ingest.main"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(6)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert "cannot open rtsp://***@127.0.0.1" in out, out
    assert "Hunter2Secret" not in out and "QwertySecret9" not in out, out
