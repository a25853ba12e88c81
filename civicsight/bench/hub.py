"""A demo hub of a benchmark's own: ``civicsight up`` on an embedded broker the benchmark
owns, a temporary data dir and the demo's cameras (repeated under new ids for more than
four). The latency benchmark measures it; the search benchmark runs beside it."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from civicsight.cli import DEMO_CAMERAS, UpSettings
from civicsight.resources import data_path
from civicsight.stack import EmbeddedBroker, free_port, stop_process


@dataclass(frozen=True)
class Hub:
    data: Path  # its data dir (the store is ``tracks.db``)
    bootstrap: str  # its broker
    process: subprocess.Popen[bytes]

    @property
    def store_file(self) -> Path:
        return self.data / "tracks.db"


def camera_files(count: int, folder: Path) -> list[str]:
    """``count`` camera files in ``folder``: the demo's, then the demo's again under new
    ids (``<id>-2``, ...), so the load grows with the same video."""
    demo = sorted(DEMO_CAMERAS.glob("*.yaml"))
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(count):
        src = demo[i % len(demo)]
        data = yaml.safe_load(src.read_text())
        round_no = i // len(demo)
        if round_no:
            data["id"] = f"{data['id']}-{round_no + 1}"
            data["name"] = f"{data['name']} #{round_no + 1}"
        (folder / f"{data['id']}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        ids.append(data["id"])
    return ids


def demo_media() -> Path:
    """The demo's videos (from the mirror, or downloaded once)."""
    from civicsight.media import ensure_media

    settings = UpSettings()
    return ensure_media(
        data_path("demo-media.yaml"),
        settings.media_mirror,
        settings.data_dir / "media",
        settings.media_download,
    )


@contextmanager
def demo_hub(cameras: int, media: Path) -> Iterator[Hub]:
    """A running hub with ``cameras`` cameras, stopped (and its data removed) after; its
    log is kept in the temporary folder when it failed."""
    with tempfile.TemporaryDirectory(prefix="cs-bench-hub-") as tmp:
        data = Path(tmp)
        camera_files(cameras, data / "cameras")
        broker = EmbeddedBroker(log_file=data / "broker.log")
        broker.start()
        env = {
            **os.environ,
            "CIVICSIGHT_DATA_DIR": str(data),
            "CIVICSIGHT_CAMERAS_DIR": str(data / "cameras"),
            "CIVICSIGHT_MEDIA_MIRROR": str(media),
            "CIVICSIGHT_KAFKA_BOOTSTRAP": broker.bootstrap,
            "CIVICSIGHT_API_PORT": str(free_port()),
            "CIVICSIGHT_METRICS_PORT": "0",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "civicsight", "up"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(data / "hub.log").open("wb"),
        )
        try:
            yield Hub(data, broker.bootstrap, process)
        except BaseException:
            shutil.copy(data / "hub.log", Path(tempfile.gettempdir()) / "cs-bench-hub.log")
            raise
        finally:
            stop_process(process)
            broker.stop()


def wait_first_version(hub: Hub, timeout: float) -> float:
    """Capture time of the hub's first stored track version (polls the store file)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub.process.poll() is not None:
            raise RuntimeError(f"the hub exited ({hub.process.returncode}) before storing a track")
        if hub.store_file.exists():
            try:
                with sqlite3.connect(f"file:{hub.store_file}?mode=ro", uri=True, timeout=1) as db:
                    row = db.execute("SELECT MIN(last_seen) FROM track_versions").fetchone()
                if row and row[0] is not None:
                    return float(row[0])
            except sqlite3.OperationalError:
                pass  # not created yet
        time.sleep(1)
    raise TimeoutError(f"no track version stored within {timeout:.0f} s")
