"""The hub's metrics, named once: every counter, histogram and gauge a process of the hub
reports, with its Prometheus name, type, labels and help text.

Processes report through the runtime's ``Metrics`` seam (``count``, ``observe``,
``gauge``) by the short names below; ``civicsight.metrics`` (the one module that imports
prometheus_client) turns them into Prometheus metrics, and the README's table, the
dashboards and their tests read this catalogue. Pure: data and checks, no I/O.

Naming follows Prometheus: ``civicsight_`` first, base units (seconds, messages),
``_total`` on counters, latency as ``_seconds`` histograms. No metric carries the
``service`` label: Prometheus adds it from the targets file (a label of the same name in
the exposition would be renamed ``exported_service``).

Privacy: labels are few and bounded; ``camera`` is the only one with many values. No
label may name a track, a tracklet, a plate, a face, a person, a user or a token
(``FORBIDDEN_LABELS``); ``civicsight.metrics`` refuses any label a metric does not
declare, so a service cannot slip one in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "API_REQUEST_SECONDS",
    "BATCHES",
    "BATCH_SIZE",
    "CAPTURE_TO_STORE_SECONDS",
    "CATALOGUE",
    "CONSUMER_LAG",
    "DEAD_LETTERS",
    "EVENTS_IN",
    "EVENTS_OUT",
    "FORBIDDEN_LABELS",
    "FRAMES_DROPPED",
    "FRAMES_IN",
    "HANDLE_SECONDS",
    "INFERENCE_SECONDS",
    "JOIN_DECISIONS",
    "JOIN_DECISION_KINDS",
    "PAUSES",
    "RESUMES",
    "STORE_WRITE_SECONDS",
    "MetricSpec",
    "spec",
    "status_class",
]

Kind = Literal["counter", "histogram", "gauge"]

# the seam's vocabulary: what processes pass to Metrics.count / observe / gauge
BATCHES = "batches"
BATCH_SIZE = "batch_size"
EVENTS_IN = "events_in"
EVENTS_OUT = "events_out"
DEAD_LETTERS = "dead_letters"
HANDLE_SECONDS = "handle_seconds"
PAUSES = "pauses"
RESUMES = "resumes"
CONSUMER_LAG = "consumer_lag"
INFERENCE_SECONDS = "inference_seconds"
FRAMES_IN = "frames_in"
FRAMES_DROPPED = "frames_dropped"
STORE_WRITE_SECONDS = "store_write_seconds"
CAPTURE_TO_STORE_SECONDS = "capture_to_store_seconds"
JOIN_DECISIONS = "join_decisions"
API_REQUEST_SECONDS = "api_request_seconds"

JOIN_DECISION_KINDS = ("new_track", "linked", "displaced", "merge", "split")
"""How the cross-camera join placed a tracklet: a new global track, appended to one,
taking the place of another track's last tracklet; or an operator's merge or split."""

FORBIDDEN_LABELS = frozenset(
    {"track", "track_id", "tracklet", "plate", "text", "face", "person", "user", "token", "ip"}
)
"""Labels no metric may have (privacy: a metric never identifies a track or a person)."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PIPELINE_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0)
"""Capture -> store: tracklets close seconds after their last frame and the join waits
for every partition's clock, so this is seconds to minutes, not milliseconds."""
SIZE_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0)


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its seam name (``key``), Prometheus name, type, help, labels and (for
    histograms) bucket bounds; ``reporters`` names the processes that report it."""

    key: str
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    reporters: str = ""


RUNTIME = "every service on the runtime"
CATALOGUE: tuple[MetricSpec, ...] = (
    MetricSpec(BATCHES, "civicsight_batches_total", "counter", "Input batches handled", (),
               (), RUNTIME + ", stream"),
    MetricSpec(BATCH_SIZE, "civicsight_batch_messages", "histogram",
               "Messages in each input batch handled", (), SIZE_BUCKETS, RUNTIME + ", stream"),
    MetricSpec(EVENTS_IN, "civicsight_events_in_total", "counter", "Input messages handled",
               (), (), RUNTIME + ", stream"),
    MetricSpec(EVENTS_OUT, "civicsight_events_out_total", "counter",
               "Events published (a source's: emitted)", (), (), RUNTIME + ", stream"),
    MetricSpec(DEAD_LETTERS, "civicsight_dead_letters_total", "counter",
               "Input messages sent to the dead-letter topic (refused or undecodable)", (), (),
               RUNTIME),
    MetricSpec(HANDLE_SECONDS, "civicsight_handle_seconds", "histogram",
               "Seconds a service spent on one input batch (polls excluded)", (),
               LATENCY_BUCKETS, RUNTIME + ", stream"),
    MetricSpec(PAUSES, "civicsight_pauses_total", "counter",
               "Times input was paused because too many outputs waited for delivery", (), (),
               RUNTIME),
    MetricSpec(RESUMES, "civicsight_resumes_total", "counter",
               "Times paused input was resumed", (), (), RUNTIME),
    MetricSpec(CONSUMER_LAG, "civicsight_consumer_lag_messages", "gauge",
               "Messages waiting on the broker for this process, per input topic", ("topic",),
               (), RUNTIME + " that reads topics, stream"),
    MetricSpec(INFERENCE_SECONDS, "civicsight_inference_seconds", "histogram",
               "Seconds of model work per batch (detect: from hand-over to the model to its "
               "detections, decoding included)", (), LATENCY_BUCKETS,
               "detect, plates, reid, faces"),
    MetricSpec(FRAMES_IN, "civicsight_ingest_frames_total", "counter",
               "Frames read from a camera's source", ("camera",), (), "ingest"),
    MetricSpec(FRAMES_DROPPED, "civicsight_ingest_frames_dropped_total", "counter",
               "Frames read but not sent: reason sampling (above the camera's fps) or "
               "encoding (JPEG failed)", ("camera", "reason"), (), "ingest"),
    MetricSpec(STORE_WRITE_SECONDS, "civicsight_store_write_seconds", "histogram",
               "Seconds to write one batch to the track store", (), LATENCY_BUCKETS, "indexer"),
    MetricSpec(CAPTURE_TO_STORE_SECONDS, "civicsight_capture_to_store_seconds", "histogram",
               "Seconds from the capture of a track's last observation to the track's "
               "version in the store", (), PIPELINE_BUCKETS, "indexer"),
    MetricSpec(JOIN_DECISIONS, "civicsight_join_decisions_total", "counter",
               "Cross-camera join decisions by kind (" + ", ".join(JOIN_DECISION_KINDS) + ")",
               ("decision",), (), "stream"),
    MetricSpec(API_REQUEST_SECONDS, "civicsight_api_request_seconds", "histogram",
               "Seconds to answer an API request, by route template, method and status class",
               ("route", "method", "status"), LATENCY_BUCKETS, "api"),
)  # fmt: skip
_BY_KEY = {s.key: s for s in CATALOGUE}


def spec(key: str) -> MetricSpec:
    """The metric reported as ``key`` (ValueError for a name not in the catalogue)."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise ValueError(f"no metric {key!r} in civicsight.metric_names") from None


def check_labels(key: str, labels: dict[str, str]) -> MetricSpec:
    """The metric ``key``, once ``labels`` are exactly the ones it declares (ValueError
    otherwise: an undeclared label is how an identifier would leak into a metric)."""
    found = spec(key)
    if set(labels) != set(found.labels):
        raise ValueError(f"{found.name} takes labels {list(found.labels)}, not {sorted(labels)}")
    return found


def status_class(status: int) -> str:
    """``2xx``, ``4xx``, ...: the status label of API requests (few values)."""
    return f"{status // 100}xx"
