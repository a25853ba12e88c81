"""Every service on the runtime reports its metrics without code of its own: the
smallest service (``blank_detect.py``, no metric code) as its own process on the real
tansu broker, its ``/metrics`` read over HTTP."""

from __future__ import annotations

import re
import signal
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from civicsight.bus import KafkaPublisher
from civicsight.stack import free_port
from tests.integration.civicsight.test_runtime import frame, send_frames, start

pytestmark = pytest.mark.broker


def scrape(port: int) -> dict[str, float]:
    """``name{labels}`` -> value, from the process's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    found = {}
    for line in text.splitlines():
        m = re.match(r"^(civicsight_\S+) (\S+)$", line)
        if m:
            found[m.group(1)] = float(m.group(2))
    return found


def test_a_service_on_the_runtime_exports_its_metrics(
    kafka: dict[str, str], tmp_path: Path
) -> None:
    """Guards the runtime's metrics (batches, sizes, handle seconds, events in and out,
    dead letters, consumer lag per topic) missing from a service that wrote no metric
    code, and /metrics not served on the port the supervisor gives it."""
    camera = f"m-{uuid.uuid4().hex[:8]}"
    send_frames(kafka, camera, 6)
    bad = KafkaPublisher(kafka, "metrics-test")
    bad.publish("frames", camera, frame(camera, 99, jpeg=b"not a jpeg"))
    bad.close()
    port = free_port()
    proc = start(kafka, tmp_path, f"blank-{uuid.uuid4().hex[:8]}", metrics_port=str(port))
    try:
        got: dict[str, float] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                got = scrape(port)
            except OSError:
                got = {}
            if got.get("civicsight_events_in_total", 0) >= 7 and got.get(
                "civicsight_dead_letters_total", 0
            ):
                break
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(40)
    assert got.get("civicsight_events_in_total", 0) >= 7, got
    assert got["civicsight_events_out_total"] >= 6
    assert got["civicsight_dead_letters_total"] >= 1
    assert got["civicsight_batches_total"] >= 2
    assert got["civicsight_handle_seconds_count"] == got["civicsight_batches_total"]
    assert got["civicsight_batch_messages_sum"] == got["civicsight_events_in_total"]
    assert 'civicsight_consumer_lag_messages{topic="frames"}' in got
    assert got["civicsight_pauses_total"] == 0
    assert not [k for k in got if re.search(r"track|plate|person", k)]
