"""Ingest service: camera sources -> sampled JPEG frames on ``frames``, keyed by camera id.
A source service: one thread per camera (``camera.py``), no input topic.
``python -m civicsight.services.ingest.main``; the runtime (``civicsight.runtime``) sends
its heartbeats and delivers what it emits.
"""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack

from civicsight.cameras import CameraConfig, CameraConfigError, load_cameras
from civicsight.runtime import Emit, Service, run
from civicsight.services.ingest.camera import run_camera
from civicsight.services.ingest.settings import IngestSettings
from civicsight.services.ingest.sources import SourceError

log = logging.getLogger("ingest")


class Ingest(Service[IngestSettings]):
    name = "ingest"
    settings_class = IngestSettings
    publishes = ("frames",)

    def open(self, resources: ExitStack) -> None:
        folder = self.settings.cameras_dir
        try:
            self.cameras = load_cameras(folder)
        except CameraConfigError as err:
            raise SystemExit(f"ingest: {err}") from None
        if not self.cameras:
            raise SystemExit(f"no camera files (*.yaml) in {folder}")

    def produce(self, emit: Emit, stop: threading.Event) -> None:
        failed: list[str] = []

        def camera(cam: CameraConfig) -> None:
            try:
                run_camera(
                    cam,
                    self.settings.media_root,
                    lambda f: emit("frames", cam.id, f),
                    stop,
                    self.metrics,
                )
            except SourceError as err:
                log.error("camera %s stopped: %s", cam.id, err)
                failed.append(cam.id)

        threads = [
            threading.Thread(target=camera, args=(c,), name=c.id, daemon=True) for c in self.cameras
        ]
        for th in threads:
            th.start()
        while not stop.is_set() and any(th.is_alive() for th in threads):
            stop.wait(1.0)
        for th in threads:
            th.join(5)
        if failed:
            raise SystemExit(f"cameras failed: {', '.join(failed)}")


if __name__ == "__main__":
    run(Ingest)
