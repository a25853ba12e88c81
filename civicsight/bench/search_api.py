"""The API's start, timed until its image search answers (``civicsight bench search
--api-start``)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


def api_ready(path: Path, timeout: float = 300.0) -> float:
    """Seconds from starting the API process on the store at ``path`` to an image search
    answered over HTTP with the vector graphs open (its ``search index ready`` log line):
    process start, models, graphs, server."""
    import os
    import subprocess
    import sys

    import cv2
    import httpx

    from civicsight.auth import Role, TokenStore, auth_db_path
    from civicsight.stack import free_port, stop_process

    with tempfile.TemporaryDirectory(prefix="cs-bench-api-") as tmp:
        data = Path(tmp)
        tokens = TokenStore(auth_db_path(data))
        tokens.open()
        token = tokens.issue(Role.INVESTIGATOR, "bench search")
        tokens.close()
        port = free_port()
        env = {
            **os.environ,
            "CIVICSIGHT_DATA_DIR": str(data),
            "CIVICSIGHT_STORE_PATH": str(path),
            "CIVICSIGHT_API_PORT": str(port),
            "CIVICSIGHT_METRICS_PORT": "0",
            "CIVICSIGHT_LIVE_FEED": "false",
        }
        photo = cv2.imencode(".jpg", np.full((256, 128, 3), 90, np.uint8))[1].tobytes()
        log = data / "api.log"
        started = time.monotonic()
        api = subprocess.Popen(
            [sys.executable, "-m", "civicsight.services.api.main"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        try:
            while time.monotonic() - started < timeout:
                if api.poll() is not None:
                    raise RuntimeError(f"the API exited: {log.read_text()[-2000:]}")
                if b"search index ready" in log.read_bytes():
                    try:
                        answer = httpx.post(
                            f"http://127.0.0.1:{port}/api/search/image",
                            headers={"Authorization": f"Bearer {token}"},
                            files={"image": ("q.jpg", photo, "image/jpeg")},
                            data={"cls": "person", "case": "bench", "purpose": "benchmark"},
                            timeout=30,
                        )
                        if answer.status_code == 200:
                            return time.monotonic() - started
                    except httpx.TransportError:
                        pass  # not listening yet
                time.sleep(0.05)
            raise TimeoutError(f"the API was not ready for image search within {timeout:.0f} s")
        finally:
            stop_process(api)
