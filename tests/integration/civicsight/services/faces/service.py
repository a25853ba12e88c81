"""The faces service as a child process, as both faces integration tests start it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from civicsight.audit import AuditLog
from civicsight.images import read_image
from civicsight.models.runtimes.face_encoder import FaceEncoder
from civicsight.watchlist import DAY_S, WatchlistEntry, WatchlistStore, enrol

REPO = Path(__file__).resolve().parents[5]


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
            [sys.executable, "-m", "civicsight.services.faces.main"], env=env, stderr=out, cwd=REPO
        )


def enrol_obama(data: Path, faces: Path, encoder: FaceEncoder, case_id: str) -> None:
    """Put Barack Obama (two training photos) on the watchlist ``test`` in ``data``."""
    with AuditLog(data) as audit:
        watchlist = WatchlistStore(data / "watchlist.db", audit)
        watchlist.open()
        now = time.time()
        entry = WatchlistEntry(
            watchlist_id="test",
            entry_id="obama",
            label="Barack Obama",
            case_id=case_id,
            reason="integration test",
            added_by="pytest",
            added_at=now,
            expires_at=now + DAY_S,
        )
        photos = ("train_obama_obama.jpg", "train_obama_obama2.jpg")
        images = [(p, read_image(faces / p)) for p in photos]
        enrol(watchlist, entry, images, encoder, 0.5, 32, role="local")
        watchlist.close()
