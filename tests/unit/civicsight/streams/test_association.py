"""The association rules on hand-made city scenes: relinks, transit gates, plates,
revisions, operator corrections and order independence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from civicsight.streams.association.engine import Associator, Settings, TrackChange
from civicsight.streams.association.transit import CameraGraph, CameraSpot

DIM = 128
SPOTS = [CameraSpot("a", 0, 0), CameraSpot("b", 400, 0), CameraSpot("c", 800, 0)]
GRAPH = CameraGraph.build(SPOTS, [("a", "b", 400.0), ("b", "c", 400.0)])


def identity(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM)
    return v / np.linalg.norm(v)


@dataclass
class Visit:
    camera: str
    track: int
    start: float
    end: float
    who: np.ndarray
    cls: str = "person"
    plates: Sequence[str] = ()
    noise: float = 0.05
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = f"{self.camera}/{self.track}"


def background(seed: int = 99) -> list[Visit]:
    """Other people on every camera, so each camera's mean (its shift) is learnt."""
    out = []
    for i, cam in enumerate(("a", "b", "c")):
        for j in range(12):
            out.append(
                Visit(cam, 900 + 20 * i + j, 5.0 + 3 * j, 8.0 + 3 * j, identity(seed + 31 * i + j))
            )
    return out


def run(
    visits: Sequence[Visit], evidence_first: bool = True
) -> tuple[Associator, list[TrackChange]]:
    """Feed the visits as the stream app would: evidence, closures, then clocks."""
    engine = Associator(GRAPH, Settings())
    rng = np.random.default_rng(7)
    changes: list[TrackChange] = []
    order = sorted(visits, key=lambda v: v.end)

    def evidence(v: Visit) -> None:
        for k in range(6):
            at = v.start + (v.end - v.start) * k / 6
            e = v.who + v.noise * rng.normal(size=DIM)
            engine.add_appearance(v.camera, v.track, at, v.cls, 0.8, e.tolist())
        for k, text in enumerate(v.plates):
            engine.add_plate(v.camera, v.track, v.start + k * 0.1, text, 0.9)

    if evidence_first:
        for v in order:
            evidence(v)
    for v in order:
        changes += engine.close(v.camera, v.track, v.start, v.end, v.cls, 20)
    if not evidence_first:
        for v in reversed(order):
            evidence(v)
    last = max(v.end for v in visits) + 10
    for cam in ("a", "b", "c"):
        changes += engine.advance(cam, last)
    return engine, changes


def together(engine: Associator, a: Visit, b: Visit) -> bool:
    ids = engine.assignment()
    return ids[a.key] == ids[b.key]


@pytest.mark.parametrize(
    ("same_object", "gap", "linked"), [(True, 1.5, True), (False, 1.5, False), (True, 30.0, False)]
)
def test_occlusion_split_is_relinked(same_object: bool, gap: float, linked: bool) -> None:
    """Guards: one visit split by an occlusion counted as two people (and the opposite:
    someone else stepping in where another left, or a long absence, joined)."""
    first = Visit("a", 1, 100.0, 110.0, identity(1))
    second = Visit("a", 2, 110.0 + gap, 120.0 + gap, identity(1 if same_object else 2))
    engine, _ = run([first, second, *background()])
    assert together(engine, first, second) is linked


@pytest.mark.parametrize(
    ("camera", "gap", "cls", "linked"),
    [
        ("b", 280.0, "person", True),  # 400 m at 1.4 m/s
        ("b", 20.0, "person", False),  # 20 m/s on foot: no
        ("b", 40.0, "car", True),  # 10 m/s
        ("b", 4.0, "car", False),  # 100 m/s: no
        ("c", 570.0, "person", False),  # a and c are not linked (b stands between)
    ],
)
def test_transit_gate(camera: str, gap: float, cls: str, linked: bool) -> None:
    """Guards: links across cameras that no road joins, or faster than the class moves."""
    there = Visit("a", 1, 100.0, 110.0, identity(1), cls=cls)
    here = Visit(camera, 2, 110.0 + gap, 120.0 + gap, identity(1), cls=cls)
    engine, _ = run([there, here, *background()])
    assert together(engine, there, here) is linked


@pytest.mark.parametrize(
    ("plate_a", "plate_b", "linked"),
    [
        ("AB123CD", "AB123CD", True),
        ("AB123CD", "A8I23CD", True),  # 8/B and 1/I
        ("AB123CD", "B123CD", True),  # clipped
        ("AB123CD", "XY987ZW", False),  # another car that looks the same
    ],
)
def test_plates_link_through_ocr_errors_and_veto_other_cars(
    plate_a: str, plate_b: str, linked: bool
) -> None:
    """Guards: look-alike cars joined although their plates differ, and one car split
    because its plate was read with a look-alike character."""
    there = Visit("a", 1, 100.0, 110.0, identity(1), cls="car", plates=[plate_a])
    here = Visit("b", 2, 150.0, 160.0, identity(1), cls="car", plates=[plate_b])
    engine, _ = run([there, here, *background()])
    assert together(engine, there, here) is linked


def test_plates_join_what_appearance_alone_would_not() -> None:
    """Guards: plate evidence ignored (a car badly seen on one camera stays apart)."""
    there = Visit("a", 1, 100.0, 110.0, identity(1), cls="car", plates=["QN858AM"])
    here = Visit("b", 2, 150.0, 160.0, identity(1), cls="car", plates=["QN858AM"], noise=0.2)
    plain = Visit("b", 2, 150.0, 160.0, identity(1), cls="car", noise=0.2)
    assert together(run([there, here, *background()])[0], there, here)
    assert not together(
        run([Visit("a", 1, 100.0, 110.0, identity(1), cls="car"), plain, *background()])[0],
        there,
        plain,
    )


def test_person_and_vehicle_never_link() -> None:
    walker = Visit("a", 1, 100.0, 110.0, identity(1))
    car = Visit("b", 2, 140.0, 150.0, identity(1), cls="car")
    engine, _ = run([walker, car, *background()])
    assert not together(engine, walker, car)


def test_a_better_later_match_takes_the_place_and_versions_grow() -> None:
    """Guards: a look-alike decided first keeping the track for good (decisions must stay
    revisable), and a change not published as a new version."""
    start = Visit("a", 1, 100.0, 110.0, identity(1))
    lookalike_vec = identity(1) + 0.75 * identity(5)
    lookalike = Visit("b", 2, 380.0, 392.0, lookalike_vec / np.linalg.norm(lookalike_vec))
    true_one = Visit("b", 3, 385.0, 396.0, identity(1))
    engine, changes = run([start, lookalike, true_one, *background()])
    assert together(engine, start, true_one)
    assert not together(engine, start, lookalike)
    versions: dict[str, list[int]] = {}
    for c in changes:
        versions.setdefault(c.track_id, []).append(c.version)
    for vs in versions.values():
        assert vs == list(range(1, len(vs) + 1))


def test_decisions_do_not_depend_on_arrival_order() -> None:
    """Guards: results that change with how Kafka interleaved the topics (a restarted or
    slower worker would then give other tracks)."""
    visits = [
        Visit("a", 1, 100.0, 110.0, identity(1)),
        Visit("b", 2, 380.0, 392.0, identity(1)),
        Visit("a", 3, 105.0, 112.0, identity(2)),
        Visit("b", 4, 400.0, 410.0, identity(2)),
        *background(),
    ]
    first, _ = run(visits, evidence_first=True)
    second, _ = run(visits, evidence_first=False)
    assert first.assignment() == second.assignment()


def _two_tracks() -> tuple[Associator, Visit, Visit, Visit]:
    p = Visit("a", 1, 100.0, 110.0, identity(1))
    q = Visit("b", 2, 380.0, 392.0, identity(1))
    r = Visit("c", 3, 700.0, 710.0, identity(3))
    engine, _ = run([p, q, r, *background()])
    return engine, p, q, r


def test_operator_split_is_never_joined_again() -> None:
    """Guards: an automatic decision re-joining tracklets an operator split apart."""
    engine, p, q, _ = _two_tracks()
    assert together(engine, p, q)
    track = engine.assignment()[p.key]
    changes = engine.split(track, [q.key], user="op-1", reason="two different people")
    assert not together(engine, p, q)
    assert {c.track_id for c in changes} >= {engine.assignment()[p.key], engine.assignment()[q.key]}
    members = [engine.tracklets[p.key]]
    assert engine._score(members, engine.tracklets[q.key]) is None
    assert engine.operator_log[-1].user == "op-1"


def test_operator_merge_is_never_undone() -> None:
    """Guards: an automatic revision taking a tracklet out of an operator-merged track."""
    engine, p, q, r = _two_tracks()
    ids = engine.assignment()
    engine.merge(ids[p.key], ids[r.key], user="op-2", reason="same courier, seen on CCTV")
    merged = engine.assignment()
    assert merged[p.key] == merged[q.key] == merged[r.key]
    # a later tracklet that looks like r more than r's own evidence cannot displace it
    rival = Visit("c", 9, 705.0, 712.0, identity(3))
    engine.add_appearance("c", 9, 706.0, "person", 0.9, identity(3).tolist())
    engine.close("c", 9, rival.start, rival.end, "person", 20)
    for cam in ("a", "b", "c"):
        engine.advance(cam, 800.0)
    assert engine.assignment()[r.key] == merged[p.key]


def test_merge_retires_the_younger_track_id() -> None:
    engine, p, _, r = _two_tracks()
    ids = engine.assignment()
    changes = engine.merge(ids[r.key], ids[p.key], user="op", reason="same person")
    retired = [c for c in changes if c.merged_into is not None]
    assert [c.track_id for c in retired] == [ids[r.key]]
    assert retired[0].merged_into == ids[p.key] == engine.assignment()[r.key]


@pytest.mark.parametrize(("user", "reason"), [("", "why"), ("op", ""), ("  ", "  ")])
def test_operator_decisions_need_user_and_reason(user: str, reason: str) -> None:
    engine, p, _, r = _two_tracks()
    ids = engine.assignment()
    with pytest.raises(ValueError):
        engine.merge(ids[p.key], ids[r.key], user=user, reason=reason)
    with pytest.raises(ValueError):
        engine.split(ids[p.key], [p.key], user=user, reason=reason)


def test_redelivered_inputs_count_once() -> None:
    """Guards: at-least-once delivery doubling a tracklet's evidence or closing it twice."""
    engine = Associator(GRAPH, Settings())
    for _ in range(2):
        engine.add_appearance("a", 1, 101.0, "person", 0.8, identity(1).tolist())
        engine.add_plate("a", 1, 101.5, "AB123CD", 0.9)
    assert engine.tracklets["a/1"].evidence.n == 1
    assert engine.tracklets["a/1"].plates.total == pytest.approx(0.9)
    engine.close("a", 1, 100.0, 110.0, "person", 20)
    engine.close("a", 1, 100.0, 110.0, "person", 20)
    assert len(engine.pending) == 1
