"""The join's input log: a rebuilt engine equals the one that ran; redeliveries count once."""

from __future__ import annotations

import numpy as np

from civicsight.events import Appearance, JoinBatch, PartitionClock, TrackletClosed
from civicsight.streams.association.engine import Associator, Settings
from civicsight.streams.association.transit import CameraGraph, CameraSpot
from civicsight.streams.join_state import Input, JoinProcessor

GRAPH = CameraGraph.build([CameraSpot("a", 0, 0), CameraSpot("b", 400, 0)], [("a", "b", 400.0)])


def batch(*events: Appearance | TrackletClosed | PartitionClock) -> bytes:
    return JoinBatch.encode([(e.kind, e.to_bytes()) for e in events])


def vec(seed: int) -> tuple[float, ...]:
    v = np.random.default_rng(seed).normal(size=128)
    return tuple(float(x) for x in v / np.linalg.norm(v))


def inputs() -> list[Input]:
    msgs = []
    for cam, track, t0 in (("a", 1, 100.0), ("b", 2, 380.0)):
        apps = [
            Appearance(
                camera_id=cam,
                track_id=track,
                captured_at=t0 + k,
                cls="person",
                quality=0.8,
                model="m",
                embedding=vec(1),
            )
            for k in range(5)
        ]
        msgs.append(batch(*apps))
        msgs.append(
            batch(
                TrackletClosed(
                    camera_id=cam,
                    track_id=track,
                    captured_at=t0 + 6,
                    first_seen=t0,
                    cls="person",
                    detections=30,
                )
            )
        )
    msgs.append(
        batch(
            PartitionClock(partition=0, partitions=2, captured_at=500),
            PartitionClock(partition=1, partitions=2, captured_at=500),
        )
    )
    return [Input(offset, raw) for offset, raw in enumerate(msgs, start=10)]


def new_engine() -> Associator:
    return Associator(GRAPH, Settings())


def test_restart_rebuilds_the_same_state_and_skips_redelivered_inputs() -> None:
    """Guards: a restarted worker forgetting the join (new ids for old tracklets), or a
    redelivered batch applied twice (evidence doubled, versions bumped)."""
    table: dict[bytes, bytes] = {}
    first = JoinProcessor(table, new_engine)
    items = inputs()
    changes, commit = first.apply(items[:3])
    commit()
    more, commit = first.apply(items[3:])
    commit()
    assert first.engine is not None
    final = first.engine.assignment()
    assert set(final) == {"a/1", "b/2"}  # both decided
    assert changes == [] and more

    restarted = JoinProcessor(dict(table), new_engine)
    again, commit = restarted.apply(items[2:])  # redelivered after the crash
    assert again == []
    assert restarted.engine is not None
    assert restarted.engine.assignment() == final
    assert restarted.engine.versions == first.engine.versions
    assert restarted.engine.tracklets["a/1"].evidence.n == 5


def test_undecodable_batch_is_skipped_not_fatal() -> None:
    table: dict[bytes, bytes] = {}
    proc = JoinProcessor(table, new_engine)
    changes, commit = proc.apply(
        [Input(1, b"{broken"), Input(2, b'{"schema_version":1,"items":[]}')]
    )
    commit()
    assert changes == [] and proc.skipped == 2


def test_decisions_are_counted_for_new_inputs_never_for_a_replay() -> None:
    """Guards the join-decisions metric jumping after every restart or partition move:
    a rebuilt engine replays the whole log, and those decisions were counted before."""
    table: dict[bytes, bytes] = {}
    first = JoinProcessor(table, new_engine)
    items = inputs()
    _, commit = first.apply(items)
    commit()
    counted = first.take_decisions()
    assert sum(counted.values()) == 2 and set(counted) <= {"new_track", "linked"}
    assert first.take_decisions() == {}  # taken once

    restarted = JoinProcessor(dict(table), new_engine)
    restarted.apply(items)  # everything redelivered: a replay, nothing new
    assert restarted.engine is not None and sum(restarted.engine.decisions.values()) == 2
    assert restarted.take_decisions() == {}
