"""The stream join without a broker: a scenario's events through the same tracklet
processor and association the stream app runs, in capture order. For fast, deterministic
evaluation (``civicsight eval mtmc``) and tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from civicsight.events import (
    Appearance,
    FrameDetections,
    PlateRead,
    TrackUpdate,
    global_track_id,
    tracklet_id,
)
from civicsight.streams.association.engine import Associator, Settings, TrackChange
from civicsight.streams.join import feed
from civicsight.streams.scenario import ReadStats, Scenario, read_events
from civicsight.streams.tracklet_processor import TrackletProcessor

BATCH_SECONDS = 1.0
"""Capture time between two ends of batch (partition clocks)."""


@dataclass
class OfflineResult:
    assignment: dict[str, str]
    """tracklet key (camera/id) -> global track id, for every tracklet seen"""
    changes: list[TrackChange] = field(default_factory=list)
    stats: ReadStats = field(default_factory=ReadStats)
    tracklet_updates: list[TrackUpdate] = field(default_factory=list)
    """the per-tracklet (``t-``) track versions the stream app publishes beside the join's"""


def run_offline(
    scenario: Scenario, settings: Settings | None = None, timeout: float = 3.0
) -> OfflineResult:
    engine = Associator(scenario.graph, settings)
    stage = TrackletProcessor({}, {}, timeout=timeout, partitions=1)
    stats = ReadStats()
    changes: list[TrackChange] = []
    own: list[TrackUpdate] = []
    last = batch_end = scenario.epoch
    for event in read_events(scenario, stats):
        if isinstance(event, FrameDetections):
            last = max(last, event.captured_at)
            own += stage.on_frame(event, 0, event.captured_at)
            if last - batch_end >= BATCH_SECONDS:  # as the app does after each batch
                batch_end = last
                own += stage.end_batch(0)
            for item in stage.take():
                changes += feed(engine, item)
        elif isinstance(event, (Appearance, PlateRead)):
            changes += feed(engine, event)
    own += stage.on_tick(0, last + 10 * timeout)
    for item in stage.take():
        changes += feed(engine, item)
    changes += engine.flush()
    assignment = engine.assignment()
    for camera, track in stats.tracklets:
        key = tracklet_id(camera, track)
        assignment.setdefault(key, global_track_id(camera, track))  # never joined: its own
    return OfflineResult(assignment, changes, stats, own)
