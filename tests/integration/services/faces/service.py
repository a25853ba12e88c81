"""The faces service as a child process, as both faces integration tests start it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]


def start_faces(
    kafka: dict[str, str],
    data: Path,
    cameras: Path,
    model_mirror: Path,
    group: str,
    log: Path,
    **extra: str,
) -> subprocess.Popen[bytes]:
    """``python -m services.faces.main`` reading crops from the start in its own group;
    its log in ``log``; ``extra``: more CIVICSIGHT_* settings."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CIVICSIGHT_KAFKA_BOOTSTRAP": kafka["bootstrap.servers"],
        "CIVICSIGHT_DATA_DIR": str(data),
        "CIVICSIGHT_CAMERAS_DIR": str(cameras),
        "CIVICSIGHT_MODEL_MIRROR": str(model_mirror),
        "CIVICSIGHT_FACE_GROUP": group,
        "CIVICSIGHT_FACE_FROM_START": "true",
        **extra,
    }
    env.pop("CIVICSIGHT_WATCHLIST_PATH", None)
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.faces.main"], env=env, stderr=out, cwd=REPO
        )
