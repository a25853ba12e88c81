"""Counting lines and zones on tracklets (``streams.rules``), and how the tracklet state
carries them (``streams.tracklets.observe_rules`` / ``close_rules``): plain numbers in,
hits out, no broker."""

from __future__ import annotations

import json

import pytest

from civicsight.cameras import CountingLine, Rules, Zone
from civicsight.events import Box, FrameDetections
from civicsight.streams import rules as rl
from civicsight.streams import tracklets as tl

T0 = 1_700_000_000.0
DT = 0.2
Point = tuple[float, float]

# drawn left to right: on screen its right-hand side is below it, so going down is "in"
GATE = CountingLine(id="gate", name="Gate", points=((0.2, 0.5), (0.8, 0.5)))
# a roof: up from the left, down to the right
ROOF = CountingLine(
    id="roof", name="Roof", points=((0.1, 0.5), (0.5, 0.3), (0.9, 0.5)), to_right="in"
)
# three points in a row: the walker below passes exactly through the middle one
BENT = CountingLine(id="bent", name="Bent", points=((0.2, 0.5), (0.5, 0.5), (0.8, 0.6)))
UPPER = CountingLine(id="upper", name="Upper", points=((0.0, 0.4), (1.0, 0.4)))
LOWER = CountingLine(id="lower", name="Lower", points=((0.0, 0.6), (1.0, 0.6)))
SQUARE = Zone(id="square", name="Square", polygon=((0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6)))


def down(x: float, *ys: float) -> list[Point]:
    return [(x, y) for y in ys]


def walk(rules: Rules, points: list[Point], finish: bool = False) -> list[rl.Hit]:
    """The hits of one tracklet walking ``points``, one every ``DT`` seconds."""
    memory, out = rl.FRESH, []
    for i, p in enumerate(points):
        memory, hits = rl.step(rules, memory, p, T0 + i * DT)
        out += hits
    if finish:
        memory, hits = rl.finish(rules, memory)
        out += hits
    return out


def said(hits: list[rl.Hit]) -> list[str]:
    """Hits in short: ``gate:in``, ``square:enter``, ``square:leave``."""
    return [f"{h.rule_id}:{h.direction or h.action}" for h in hits]


LINE_CASES = [
    # (what it guards, lines, path, expected)
    ("down across the gate is in", (GATE,), down(0.5, 0.4, 0.45, 0.55, 0.6), ["gate:in"]),
    ("up across the gate is out", (GATE,), down(0.5, 0.6, 0.55, 0.45, 0.4), ["gate:out"]),
    (
        "right to left across a vertical line",
        (
            CountingLine(
                id="v", name="V", points=((0.5, 0.9), (0.5, 0.1)), to_right="east", to_left="west"
            ),
        ),
        [(0.6, 0.5), (0.4, 0.5)],
        ["v:west"],
    ),
    ("touching from above and going back is no crossing", (GATE,), down(0.5, 0.4, 0.5, 0.4), []),
    ("touching from below and going back is no crossing", (GATE,), down(0.5, 0.6, 0.5, 0.6), []),
    ("walking around the end of the line is no crossing", (GATE,), down(0.1, 0.3, 0.7), []),
    ("walking along the line is no crossing", (GATE,), [(0.3, 0.5), (0.5, 0.5), (0.7, 0.5)], []),
    (
        "jitter across the line while crossing counts once",
        (GATE,),
        down(0.5, 0.4, 0.497, 0.503, 0.498, 0.504, 0.499, 0.502, 0.6),
        ["gate:in"],
    ),
    (
        "jitter on the line after crossing counts once",
        (GATE,),
        down(0.5, 0.4, 0.6, 0.505, 0.495, 0.505, 0.495, 0.505, 0.7),
        ["gate:in"],
    ),
    (
        "going back for real counts both ways",
        (GATE,),
        down(0.5, 0.4, 0.6, 0.4),
        ["gate:in", "gate:out"],
    ),
    ("a crossing never clear of the line does not count", (GATE,), down(0.5, 0.4, 0.505), []),
    ("first seen past the line is no crossing", (GATE,), down(0.5, 0.6, 0.7), []),
    ("a roof crossed straight down counts once", (ROOF,), down(0.3, 0.2, 0.6), ["roof:in"]),
    (
        "under a roof and out the other side crosses twice",
        (ROOF,),
        [(0.05, 0.45), (0.5, 0.45), (0.95, 0.45)],
        ["roof:in", "roof:out"],
    ),
    (
        "under a roof and out in one move crosses nothing",
        (ROOF,),
        [(0.05, 0.45), (0.95, 0.45)],
        [],
    ),
    ("through a vertex counts once", (BENT,), down(0.5, 0.4, 0.6), ["bent:in"]),
    (
        "two lines in one move come in the order crossed",
        (LOWER, UPPER),
        down(0.5, 0.3, 0.7),
        ["upper:in", "lower:in"],
    ),
]


@pytest.mark.parametrize(
    ("lines", "path", "expected"),
    [c[1:] for c in LINE_CASES],
    ids=[c[0] for c in LINE_CASES],
)
def test_line_crossings(
    lines: tuple[CountingLine, ...], path: list[Point], expected: list[str]
) -> None:
    assert said(walk(Rules(lines=lines), path, finish=True)) == expected


ZONE_CASES = [
    (
        "walking through enters and leaves",
        down(0.5, 0.2, 0.5, 0.5, 0.8),
        ["square:enter", "square:leave"],
    ),
    ("passing by outside is nothing", down(0.3, 0.2, 0.5, 0.8), []),
    ("first seen inside enters there", down(0.5, 0.5, 0.8), ["square:enter", "square:leave"]),
    ("grazing the edge is no entry", down(0.5, 0.3, 0.395, 0.405, 0.398, 0.405, 0.3), []),
    (
        "jitter on the edge from inside is one visit",
        down(0.5, 0.5, 0.395, 0.405, 0.395, 0.405, 0.5, 0.8),
        ["square:enter", "square:leave"],
    ),
    (
        "ending inside leaves at the last detection",
        down(0.5, 0.2, 0.5, 0.55),
        ["square:enter", "square:leave"],
    ),
    (
        "two visits are two",
        down(0.5, 0.2, 0.5, 0.8, 0.5, 0.2),
        ["square:enter", "square:leave"] * 2,
    ),
]


@pytest.mark.parametrize(
    ("path", "expected"), [c[1:] for c in ZONE_CASES], ids=[c[0] for c in ZONE_CASES]
)
def test_zone_visits(path: list[Point], expected: list[str]) -> None:
    assert said(walk(Rules(zones=(SQUARE,)), path, finish=True)) == expected


def test_dwell_is_the_time_between_enter_and_leave() -> None:
    """Guards the dwell a traffic consumer averages: from the detection that entered to
    the one that left (walked out) or to the last one (ended inside)."""
    walked = walk(Rules(zones=(SQUARE,)), down(0.5, 0.2, 0.5, 0.5, 0.5, 0.8))
    assert [(h.action, h.at, h.dwell_s, h.ended) for h in walked] == [
        ("enter", T0 + DT, None, False),
        ("leave", T0 + 4 * DT, pytest.approx(3 * DT), False),
    ]
    ended = walk(Rules(zones=(SQUARE,)), down(0.5, 0.2, 0.5, 0.5), finish=True)
    assert [(h.action, h.at, h.dwell_s, h.ended) for h in ended] == [
        ("enter", T0 + DT, None, False),
        ("leave", T0 + 2 * DT, pytest.approx(DT), True),
    ]


def test_crossing_time_is_interpolated_and_numbers_follow_it() -> None:
    """Guards the order turning movements are built from: a crossing's time is when the
    point crossed, not when it was seen clear, and numbers follow time."""
    hits = walk(Rules(lines=(LOWER, UPPER), zones=(SQUARE,)), down(0.5, 0.3, 0.7))
    assert [(h.rule_id, h.seq) for h in hits] == [("upper", 1), ("lower", 2)]
    assert [h.at for h in hits] == [
        pytest.approx(T0 + 0.25 * DT, abs=1e-6),
        pytest.approx(T0 + 0.75 * DT, abs=1e-6),
    ]
    slow = walk(Rules(lines=(GATE,), zones=(SQUARE,)), down(0.5, 0.3, 0.45, 0.55, 0.7))
    assert said(slow) == ["square:enter", "gate:in", "square:leave"]
    assert [h.seq for h in slow] == [1, 2, 3]
    assert [h.at for h in slow] == sorted(h.at for h in slow)


def test_a_crossing_taken_back_uses_its_number_up() -> None:
    (hit,) = walk(Rules(lines=(GATE,)), down(0.5, 0.4, 0.505, 0.45, 0.6))
    assert (hit.direction, hit.seq) == ("in", 2)


@pytest.mark.parametrize(
    "path",
    [[], [(0.5, 0.4)], down(0.5, 0.6, 0.6, 0.6)],
    ids=["no point", "one point", "standing still"],
)
def test_degenerate_paths_hit_nothing(path: list[Point]) -> None:
    rules = Rules(
        lines=(GATE,),
        zones=(Zone(id="z", name="Z", polygon=((0, 0), (1, 0), (1, 0.55))),),
    )
    assert walk(rules, path) == []


def test_a_point_not_after_the_last_changes_nothing() -> None:
    """Guards a redelivered or reordered detection crossing the line a second time."""
    rules = Rules(lines=(GATE,))
    memory, _ = rl.step(rules, rl.FRESH, (0.5, 0.4), T0)
    again, hits = rl.step(rules, memory, (0.5, 0.6), T0)
    assert (again, hits) == (memory, [])
    earlier, hits = rl.step(rules, memory, (0.5, 0.6), T0 - 1)
    assert (earlier, hits) == (memory, [])


def test_rules_removed_while_a_tracklet_is_inside_are_forgotten() -> None:
    """Guards a leave (with a made-up dwell) for a zone that no longer exists."""
    memory, (hit,) = rl.step(Rules(zones=(SQUARE,)), rl.FRESH, (0.5, 0.5), T0)
    assert hit.action == "enter"
    memory, hits = rl.step(Rules(), memory, (0.5, 0.8), T0 + 1)
    assert hits == [] and memory.inside is None
    assert rl.finish(Rules(zones=(SQUARE,)), memory)[1] == []


def test_memory_survives_json() -> None:
    """Guards a worker restart (state rebuilt from the changelog) losing a pending
    crossing or an open zone visit."""
    rules = Rules(lines=(GATE,), zones=(SQUARE,))
    memory, _ = rl.step(rules, rl.FRESH, (0.5, 0.45), T0)
    memory, _ = rl.step(rules, memory, (0.5, 0.505), T0 + 1)
    assert memory.pending and memory.inside
    restored = rl.Memory.from_json(json.loads(json.dumps(memory.to_json())))
    assert restored == memory
    assert rl.step(rules, restored, (0.5, 0.7), T0 + 2) == rl.step(
        rules, memory, (0.5, 0.7), T0 + 2
    )


# -- through the tracklet state -----------------------------------------------------------


def frame(t: float, *boxes: tuple[int, float, float], camera: str = "cam") -> FrameDetections:
    """A 200x100 frame with boxes (track id, bottom-centre x, y as fractions)."""
    return FrameDetections(
        camera_id=camera,
        seq=0,
        captured_at=t,
        width=200,
        height=100,
        model="m",
        boxes=tuple(
            Box(
                x1=200 * x - 5,
                y1=100 * y - 20,
                x2=200 * x + 5,
                y2=100 * y,
                cls="person",
                conf=0.9,
                track_id=tid,
            )
            for tid, x, y in boxes
        ),
        detected_at=t,
    )


def run(
    rules: Rules, frames: list[FrameDetections], state: tl.CameraState | None = None
) -> tuple[tl.CameraState, list[tuple[int, str, int]]]:
    """Frames through observe, observe_rules, expire and close_rules, as the stream app
    calls them; hits as (track id, rule:direction, seq)."""
    state = state or tl.new_state("cam")
    out = []
    for f in frames:
        new, _ = tl.observe(state, f, f.captured_at, min_detections=3)
        if new is not state:
            new, hits = tl.observe_rules(new, f, rules)
            out += hits
        expired, _ = tl.expire(new, f.captured_at, timeout=1.0)
        if expired is not new:
            expired, hits = tl.close_rules(new, expired, rules)
            out += hits
        state = expired
    return state, [(h.track_id, f"{h.rule_id}:{h.direction or h.action}", h.seq) for h in out]


def test_hits_wait_for_the_tracklet_to_be_confirmed() -> None:
    """Guards flicker counting: a crossing seen in a tracklet's first detections is sent
    only once the tracklet is confirmed (third detection), and never if it vanishes."""
    rules = Rules(lines=(GATE,))
    crossing = [frame(T0, (1, 0.5, 0.4)), frame(T0 + 0.2, (1, 0.5, 0.6))]
    state, hits = run(rules, crossing)
    assert hits == [] and state.tracklets[1].held
    _, hits = run(rules, [frame(T0 + 0.4, (1, 0.5, 0.65))], state)
    assert hits == [(1, "gate:in", 1)]
    _, flicker = run(rules, [*crossing, frame(T0 + 5)])
    assert flicker == []


def test_the_box_bottom_centre_is_what_crosses() -> None:
    """Guards evaluating the box centre, which crosses a line on the ground half a box
    late (or early): here the feet cross the gate, the centre never does."""
    box = Box(x1=90, y1=30, x2=110, y2=48, cls="person", conf=0.9, track_id=1)
    assert tl.bottom_centre(box, 200, 100) == (0.5, 0.48)
    feet = [frame(T0 + 0.2 * i, (1, 0.5, y)) for i, y in enumerate((0.45, 0.55, 0.58))]
    assert [f.boxes[0].center[1] / 100 < 0.5 for f in feet] == [True] * 3
    assert run(Rules(lines=(GATE,)), feet)[1] == [(1, "gate:in", 1)]


def test_a_tracklet_that_closes_inside_a_zone_leaves_it() -> None:
    rules = Rules(zones=(SQUARE,))
    frames = [frame(T0 + 0.2 * i, (4, 0.5, 0.5)) for i in range(4)] + [frame(T0 + 3)]
    state, hits = run(rules, frames)
    assert hits == [(4, "square:enter", 1), (4, "square:leave", 2)]
    assert state.closed[4].hits == 2


def test_a_reappearing_tracklet_goes_on_numbering() -> None:
    """Guards two different hits with one identity (camera, track id, seq) when a closed
    tracker id comes back and continues its track."""
    rules = Rules(zones=(SQUARE,))
    first = [frame(T0 + 0.2 * i, (4, 0.5, 0.5)) for i in range(4)] + [frame(T0 + 3)]
    state, _ = run(rules, first)
    again = [frame(T0 + 4 + 0.2 * i, (4, 0.5, 0.5)) for i in range(4)]
    _, hits = run(rules, again, state)
    assert hits == [(4, "square:enter", 3)]


def test_rule_memory_survives_the_state_codec() -> None:
    rules = Rules(lines=(GATE,), zones=(SQUARE,))
    state, _ = run(rules, [frame(T0, (1, 0.5, 0.45)), frame(T0 + 0.2, (1, 0.5, 0.505))])
    restored = tl.CameraState.from_bytes(state.to_bytes())
    assert restored == state
    assert restored.tracklets[1].rules.pending


def test_a_camera_without_rules_keeps_no_rule_memory() -> None:
    """Guards the state written on every frame growing for cameras that count nothing."""
    state, hits = run(Rules(), [frame(T0 + 0.2 * i, (1, 0.5, 0.3 + 0.1 * i)) for i in range(4)])
    assert hits == [] and state.tracklets[1].rules == rl.FRESH
    assert b"rules" not in state.to_bytes()


def test_old_states_without_rule_memory_still_load() -> None:
    """Guards a worker upgrade failing on the changelog its predecessor wrote."""
    state, _ = run(Rules(), [frame(T0, (1, 0.5, 0.4))])
    doc = state.to_json()
    doc["closed"] = [[9, 2, T0 - 10, T0 - 5]]
    loaded = tl.CameraState.from_json(doc)
    assert loaded.closed[9].hits == 0 and loaded.tracklets[1].rules == rl.FRESH
