"""The Prometheus edge: the seam's calls become Prometheus metrics, served on
127.0.0.1, in a text format Prometheus' own ``promtool check metrics`` accepts."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import urllib.request

import pytest

from civicsight.metric_names import (
    BATCH_SIZE,
    CONSUMER_LAG,
    EVENTS_IN,
    FRAMES_DROPPED,
    HANDLE_SECONDS,
)
from civicsight.metrics import PrometheusMetrics, start_metrics

PROMTOOL = shutil.which("promtool")


def reported() -> PrometheusMetrics:
    metrics = PrometheusMetrics()
    metrics.count(EVENTS_IN, 3)
    metrics.count(FRAMES_DROPPED, camera="north-gate", reason="sampling")
    metrics.observe(HANDLE_SECONDS, 0.02)
    metrics.observe(BATCH_SIZE, 5)
    metrics.gauge(CONSUMER_LAG, 42, topic="frames")
    return metrics


@pytest.mark.parametrize(
    "line",
    [
        "civicsight_events_in_total 3.0",
        'civicsight_ingest_frames_dropped_total{camera="north-gate",reason="sampling"} 1.0',
        'civicsight_handle_seconds_bucket{le="0.025"} 1.0',
        "civicsight_handle_seconds_count 1.0",
        'civicsight_batch_messages_bucket{le="8.0"} 1.0',
        'civicsight_consumer_lag_messages{topic="frames"} 42.0',
        "# TYPE civicsight_handle_seconds histogram",
        "# TYPE process_cpu_seconds_total counter",
    ],
)
def test_seam_calls_become_prometheus_metrics(line: str) -> None:
    """Guards a seam name mapped to the wrong metric, type, bucket or label, and the
    process collector (CPU, memory: the dashboard's health row) missing."""
    assert line in reported().exposition().decode().splitlines()


def test_only_what_is_reported_is_exported() -> None:
    """Guards every process exporting every metric of the catalogue at 0 (ingest with
    an empty inference histogram, ...): metrics are made on first use."""
    text = PrometheusMetrics().exposition().decode()
    assert "civicsight_" not in text


@pytest.mark.skipif(PROMTOOL is None, reason="Debian's prometheus: scripts/prometheus-deps.sh")
def test_promtool_accepts_the_exposition() -> None:
    """Guards an exposition Prometheus would reject or lint (naming, help, types):
    checked by Prometheus' own promtool."""
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "check", "metrics"],
        input=reported().exposition(),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    civicsight_problems = [
        line for line in (done.stdout + done.stderr).decode().splitlines() if "civicsight" in line
    ]
    assert civicsight_problems == []


def test_metrics_are_served_on_loopback_only() -> None:
    """Guards /metrics on every interface (it tells anyone on the network how busy each
    camera is) or not answering at all."""
    metrics = reported()
    port = metrics.serve(0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode()
        assert 'civicsight_consumer_lag_messages{topic="frames"} 42.0' in body
        assert metrics._server.server_address[0] == "127.0.0.1"
    finally:
        metrics.close()
    assert metrics.port is None


def test_a_taken_port_costs_the_endpoint_not_the_process(caplog: pytest.LogCaptureFixture) -> None:
    """Guards a service crashing (and restarting forever) because another process holds
    its metrics port: it logs and works on, counting as before."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.WARNING, "metrics"):
            metrics = start_metrics("detect", port)
    metrics.count(EVENTS_IN)
    assert metrics.port is None
    assert "civicsight_events_in_total 1.0" in metrics.exposition().decode()
    assert f"cannot listen on 127.0.0.1:{port}" in caplog.text


def test_port_zero_turns_the_endpoint_off() -> None:
    metrics = start_metrics("api", 0)
    assert metrics.port is None
