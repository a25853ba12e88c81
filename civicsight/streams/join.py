"""Hub events into the association engine, and its decisions back into hub events: the
one mapping both the stream app and the offline evaluation use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from civicsight.events import (
    Appearance,
    Event,
    ObjectClass,
    PartitionClock,
    PlateRead,
    TrackCorrection,
    TrackletClosed,
    TrackletRef,
    TrackUpdate,
)
from civicsight.streams.association.engine import Associator, TrackChange


def feed(engine: Associator, event: Event) -> list[TrackChange]:
    """Apply one input event; returns the track changes it caused."""
    if isinstance(event, Appearance):
        engine.add_appearance(
            event.camera_id,
            event.track_id,
            event.captured_at,
            event.cls,
            event.quality,
            event.embedding,
        )
        return []
    if isinstance(event, PlateRead):
        engine.add_plate(event.camera_id, event.track_id, event.captured_at, event.text, event.conf)
        return []
    if isinstance(event, TrackletClosed):
        return engine.close(
            event.camera_id,
            event.track_id,
            event.first_seen,
            event.captured_at,
            event.cls,
            event.detections,
        )
    if isinstance(event, PartitionClock):
        return engine.advance(f"p{event.partition}", event.captured_at, event.partitions)
    if isinstance(event, TrackCorrection):
        if event.action == "merge":
            assert event.other_track_id is not None  # checked by the event type
            return engine.merge(event.track_id, event.other_track_id, event.user, event.reason)
        return engine.split(event.track_id, event.tracklets, event.user, event.reason)
    raise TypeError(f"the join takes no {type(event).__name__}")


def feed_all(engine: Associator, events: Iterable[Event]) -> list[TrackChange]:
    out: list[TrackChange] = []
    for event in events:
        out += feed(engine, event)
    return out


def track_update(change: TrackChange, now: float) -> TrackUpdate:
    """The ``TrackUpdate`` the stream app publishes for one of the join's track changes
    (``now``: its ``emitted_at``)."""
    return TrackUpdate(
        track_id=change.track_id,
        version=change.version,
        cls=cast(ObjectClass, change.cls),
        tracklets=tuple(
            TrackletRef(
                camera_id=m.camera_id,
                track_id=m.track_id,
                first_seen=m.first_seen,
                last_seen=m.last_seen,
            )
            for m in change.members
        ),
        first_seen=change.first_seen,
        last_seen=change.last_seen,
        closed=change.merged_into is not None,
        merged_into=change.merged_into,
        emitted_at=now,
    )
