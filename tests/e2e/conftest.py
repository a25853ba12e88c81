"""The whole hub for the end-to-end tests: the embedded broker and every service as its
own supervised process, as ``civicsight up`` runs them."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from civicsight.bus import ensure_topics
from civicsight.cli import hub_services
from civicsight.stack import EmbeddedBroker, Supervisor, free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Running:
    url: str
    kafka: dict[str, str]
    supervisor: Supervisor


@contextlib.contextmanager
def whole_hub(
    data: Path,
    cameras: Path,
    media: Path,
    model_mirror: Path,
    env: Mapping[str, str] | None = None,
) -> Iterator[Running]:
    """Every service on its own broker, data folder and cameras; the API answering. The
    end of the hub's log goes to stderr when it stops (pytest shows it for a failure)."""
    port = free_port()
    with EmbeddedBroker(log_file=data / "broker.log") as broker:
        kafka = {"bootstrap.servers": broker.bootstrap}
        ensure_topics(kafka)
        settings = {
            "CIVICSIGHT_KAFKA_BOOTSTRAP": broker.bootstrap,
            "CIVICSIGHT_DATA_DIR": str(data),
            "CIVICSIGHT_CAMERAS_DIR": str(cameras),
            "CIVICSIGHT_API_PORT": str(port),
            "CIVICSIGHT_MEDIA_MIRROR": str(media),
            "CIVICSIGHT_MODEL_MIRROR": str(model_mirror),
            "YOLO_OFFLINE": "1",
            "PYTHONPATH": str(REPO),
            **(env or {}),
        }
        log = (data / "hub.log").open("w")
        # metrics off: tests run hubs side by side (tests/e2e/test_metrics_hub.py has them on)
        supervisor = Supervisor(hub_services(0), settings, out=log, max_backoff=1.0)
        stop = threading.Event()
        try:
            with supervisor.running():
                watcher = threading.Thread(target=supervisor.run_forever, args=(stop,), daemon=True)
                watcher.start()
                wait_for_port("127.0.0.1", port, 90)
                yield Running(f"http://127.0.0.1:{port}", kafka, supervisor)
                stop.set()
        finally:
            log.close()
            sys.stderr.write((data / "hub.log").read_text()[-4000:])
