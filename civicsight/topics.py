"""The topic table: the one place that says which topics exist and what they carry.

``infra/kafka/topics.yaml`` is generated from it (``civicsight topics --yaml``) and a
test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from civicsight.events import (
    Appearance,
    Crop,
    Event,
    FaceObservation,
    Frame,
    FrameDetections,
    PlateRead,
    TrackUpdate,
)

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    partitions: int
    retention_ms: int
    max_bytes: int
    value_type: type[Event]

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


TOPICS: tuple[Topic, ...] = (
    Topic("frames", "camera_id", 6, 1 * HOUR_MS, 4 * 1024 * 1024, Frame),
    Topic("detections", "camera_id", 6, 24 * HOUR_MS, 1024 * 1024, FrameDetections),
    Topic("crops", "camera_id", 6, 6 * HOUR_MS, 2 * 1024 * 1024, Crop),
    Topic("appearances", "camera_id", 6, 24 * HOUR_MS, 256 * 1024, Appearance),
    Topic("plate_reads", "camera_id", 6, 24 * HOUR_MS, 64 * 1024, PlateRead),
    Topic("face_matches", "camera_id", 6, 24 * HOUR_MS, 64 * 1024, FaceObservation),
    Topic("track_updates", "track_id", 6, 7 * 24 * HOUR_MS, 2 * 1024 * 1024, TrackUpdate),
)
DLQ_RETENTION_MS = 7 * 24 * HOUR_MS

BY_NAME: dict[str, Topic] = {t.name: t for t in TOPICS}


def topic(name: str) -> Topic:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; known: {', '.join(BY_NAME)}") from None


def all_topic_configs() -> list[tuple[str, int, dict[str, str]]]:
    """(name, partitions, config) for every topic and its dead-letter topic."""
    out: list[tuple[str, int, dict[str, str]]] = []
    for t in TOPICS:
        cfg = {"retention.ms": str(t.retention_ms), "max.message.bytes": str(t.max_bytes)}
        out.append((t.name, t.partitions, cfg))
        dlq_cfg = {"retention.ms": str(DLQ_RETENTION_MS), "max.message.bytes": str(t.max_bytes)}
        out.append((t.dlq, 1, dlq_cfg))
    return out


def render_yaml() -> str:
    doc = {
        "# generated": "by `civicsight topics --yaml` from civicsight/topics.py; do not edit",
        "topics": [
            {
                "name": t.name,
                "key": t.key,
                "partitions": t.partitions,
                "retention_ms": t.retention_ms,
                "max_message_bytes": t.max_bytes,
                "value_type": t.value_type.__name__,
                "schema_version": 1,
                "dead_letter_topic": t.dlq,
            }
            for t in TOPICS
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False)
