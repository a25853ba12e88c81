"""Prometheus metrics for every process of the hub: the runtime's ``Metrics`` seam on a
prometheus_client registry, served as ``/metrics`` on 127.0.0.1.

The one module that imports prometheus_client. What the metrics are (names, types,
labels, buckets) is in ``civicsight.metric_names``; here they are made on first use, so
a process exports only what it reports. Each process serves its own registry (with the
process collector: CPU seconds, resident memory, start time) on its own port:
``CIVICSIGHT_METRICS_PORT``, which ``civicsight up`` sets for each child (the base port
and up, one each); 0 turns the endpoint off. A port already taken costs the process its
endpoint, never its work (a warning is logged).

Services on the runtime get this from ``civicsight.runtime.run``; the stream app and the
API call ``start_metrics`` themselves.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    start_http_server,
)

from civicsight.metric_names import MetricSpec, check_labels

__all__ = ["LOOPBACK", "PrometheusMetrics", "start_metrics"]

log = logging.getLogger("metrics")
LOOPBACK = "127.0.0.1"
"""Metrics are served on the loopback address only: Prometheus runs on the hub host (or
reaches it through a tunnel or a proxy the operator sets up)."""


class PrometheusMetrics:
    """The ``Metrics`` seam (``count``, ``observe``, ``gauge``) on its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._server: Any = None
        self.port: int | None = None
        """The port ``/metrics`` is served on (None: not served)."""

    def _child(self, key: str, labels: dict[str, str]) -> Any:
        found = check_labels(key, labels)
        metric = self._made.get(key)
        if metric is None:
            with self._lock:
                metric = self._made.get(key)
                if metric is None:
                    metric = self._made[key] = _make(found, self.registry)
        return metric.labels(**labels) if labels else metric

    def count(self, name: str, value: float = 1.0, **labels: str) -> None:
        self._child(name, labels).inc(value)

    def observe(self, name: str, value: float, **labels: str) -> None:
        self._child(name, labels).observe(value)

    def gauge(self, name: str, value: float, **labels: str) -> None:
        self._child(name, labels).set(value)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format (what ``/metrics`` answers)."""
        return bytes(generate_latest(self.registry))

    def serve(self, port: int, host: str = LOOPBACK) -> int:
        """Serve ``/metrics`` on ``host:port`` in a daemon thread (port 0: any free one);
        returns the port. Raises OSError when it cannot listen."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        self.port = int(server.server_address[1])
        return self.port

    def close(self) -> None:
        """Stop serving ``/metrics`` (the metrics themselves stay usable)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server, self.port = None, None


def _make(found: MetricSpec, registry: CollectorRegistry) -> Any:
    # prometheus_client appends _total to a counter's name itself
    if found.kind == "counter":
        name = found.name.removesuffix("_total")
        return Counter(name, found.help, found.labels, registry=registry)
    if found.kind == "gauge":
        return Gauge(found.name, found.help, found.labels, registry=registry)
    return Histogram(found.name, found.help, found.labels, registry=registry, buckets=found.buckets)


def start_metrics(process: str, port: int) -> PrometheusMetrics:
    """The process's metrics, served on ``127.0.0.1:port`` (0: not served). A port that
    is taken is logged and the metrics go unserved: the process works on."""
    metrics = PrometheusMetrics()
    if port:
        try:
            metrics.serve(port)
        except OSError as err:
            log.warning(
                "%s: no /metrics: cannot listen on %s:%d (%s)", process, LOOPBACK, port, err
            )
        else:
            log.info("%s: metrics on http://%s:%d/metrics", process, LOOPBACK, port)
    return metrics
