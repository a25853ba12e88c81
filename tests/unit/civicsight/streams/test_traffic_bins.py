"""Traffic bins of one camera (``streams.traffic_bins``): counts, zones, turns, speeds,
camera up or down, repeats, settling and sending, all with numbers worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from civicsight.events import RuleHit
from civicsight.streams import traffic_bins as tb
from civicsight.streams.tracklets import SpeedSample
from civicsight.traffic import BIN_S, CameraBin, CountBin, SpeedBin, TurnBin, ZoneBin

B0 = 1_700_000_100.0  # a bin start (multiple of 900)
assert B0 % BIN_S == 0
CAM = "junction"


def cross(
    track: int, seq: int, at: float, rule: str = "north", way: str = "in", cls: str = "car"
) -> RuleHit:
    return RuleHit(
        camera_id=CAM,
        track_id=track,
        captured_at=at,
        rule_id=rule,
        rule_kind="line",
        action="cross",
        direction=way,
        cls=cls,  # type: ignore[arg-type]
        seq=seq,
    )


def zone(
    track: int, seq: int, at: float, action: str, cls: str = "car", dwell: float | None = None
) -> RuleHit:
    return RuleHit(
        camera_id=CAM,
        track_id=track,
        captured_at=at,
        rule_id="box",
        rule_kind="zone",
        action=action,  # type: ignore[arg-type]
        cls=cls,  # type: ignore[arg-type]
        seq=seq,
        dwell_s=dwell,
    )


def watched(state: tb.CameraTraffic, start: float, end: float, step: float = 0.2) -> None:
    """Frames every ``step`` seconds from ``start`` to ``end`` (inclusive)."""
    n = round((end - start) / step)
    for i in range(n + 1):
        state.frame(start + i * step, start + i * step)


def rows_of(state: tb.CameraTraffic, kind: type, b: float = B0) -> list[Any]:
    return [r for r in state.rows(b) if isinstance(r, kind)]


@pytest.mark.parametrize(
    ("hits", "want"),
    [
        # one car each way, a bus, a cyclist: per direction and class
        (
            [
                cross(1, 1, B0 + 10),
                cross(2, 1, B0 + 20, way="out"),
                cross(3, 1, B0 + 30, cls="bus"),
                cross(4, 1, B0 + 40, cls="bicycle"),
            ],
            {
                ("north", "in", "car"): 1,
                ("north", "out", "car"): 1,
                ("north", "in", "bus"): 1,
                ("north", "in", "bicycle"): 1,
            },
        ),
        # the same hit twice (sent again after a restart) counts once
        ([cross(1, 1, B0 + 10), cross(1, 1, B0 + 10)], {("north", "in", "car"): 1}),
        # a later hit of the tracklet counts; an older one arriving late does not
        (
            [cross(1, 2, B0 + 10), cross(1, 1, B0 + 5), cross(1, 3, B0 + 12, way="out")],
            {("north", "in", "car"): 1, ("north", "out", "car"): 1},
        ),
        # two lines, two tracklets
        (
            [
                cross(1, 1, B0 + 10),
                cross(1, 2, B0 + 11, rule="east", way="out"),
                cross(2, 1, B0 + 12),
            ],
            {("north", "in", "car"): 2, ("east", "out", "car"): 1},
        ),
    ],
)
def test_crossings_are_counted_per_line_direction_and_class(
    hits: list[RuleHit], want: dict[tuple[str, str, str], int]
) -> None:
    """Guards a repeated hit (a restart sends it again) counted twice, and directions or
    classes pooled."""
    state = tb.CameraTraffic(CAM)
    state.frame(B0, B0)
    for h in hits:
        state.hit(h)
    got = {(r.rule, r.direction, r.cls): r.count for r in rows_of(state, CountBin)}
    assert got == want


def test_a_crossing_counts_in_the_bin_of_its_instant() -> None:
    """Guards hits binned by arrival: the last second of a bin stays in it."""
    state = tb.CameraTraffic(CAM)
    state.frame(B0 + BIN_S - 5, B0)
    state.hit(cross(1, 1, B0 + BIN_S - 0.5))
    state.hit(cross(2, 1, B0 + BIN_S))
    assert [r.count for r in rows_of(state, CountBin, B0)] == [1]
    assert [r.count for r in rows_of(state, CountBin, B0 + BIN_S)] == [1]


@pytest.mark.parametrize(
    ("crossings", "want"),
    [
        ([("north",)], {}),  # one line: no turn
        ([("north",), ("east",)], {("north", "east"): 1}),
        # a third line moves the turn: north -> west, and north -> east goes back to 0
        ([("north",), ("east",), ("west",)], {("north", "east"): 0, ("north", "west"): 1}),
        ([("north",), ("north",)], {("north", "north"): 1}),  # a U-turn
    ],
)
def test_turns_run_from_the_first_line_to_the_last(
    crossings: list[tuple[str]], want: dict[tuple[str, str], int]
) -> None:
    """Guards turning movements taken from the wrong legs, and a tracklet that crosses
    three lines counted as two turns."""
    state = tb.CameraTraffic(CAM)
    state.frame(B0, B0)
    for i, (line,) in enumerate(crossings):
        state.hit(cross(7, i + 1, B0 + 10 + i, rule=line))
    got = {(r.entry, r.exit): r.count for r in rows_of(state, TurnBin)}
    assert got == want


def test_a_turn_is_in_the_bin_of_its_exit() -> None:
    """Guards a turn counted in the bin the tracklet entered."""
    state = tb.CameraTraffic(CAM)
    state.frame(B0 + BIN_S - 3, B0)
    state.hit(cross(1, 1, B0 + BIN_S - 2))
    state.hit(cross(1, 2, B0 + BIN_S + 1, rule="east"))
    assert rows_of(state, TurnBin, B0) == []
    (turn,) = rows_of(state, TurnBin, B0 + BIN_S)
    assert (turn.entry, turn.exit, turn.count) == ("north", "east", 1)


def test_zone_occupancy_dwell_and_class_of_entry() -> None:
    """Worked by hand over 100 s watched: A (car) inside 10-40 s, B inside 20-90 s (a car
    whose vote flips to truck while inside: it stays a car), C (a bus) enters at 95 s.
    Car occupant-seconds: 30 + 70 = 100 over 100 s -> mean 1.0; max 2 (20-40 s). Guards
    occupancy counted per frame rather than time-weighted, a phantom truck occupant,
    and dwell percentiles off by one."""
    state = tb.CameraTraffic(CAM)
    state.frame(B0, B0)
    events = [
        (10, zone(1, 1, B0 + 10, "enter")),
        (20, zone(2, 1, B0 + 20, "enter")),
        (40, zone(1, 2, B0 + 40, "leave", dwell=30.0)),
        (90, zone(2, 2, B0 + 90, "leave", cls="truck", dwell=70.0)),
        (95, zone(3, 1, B0 + 95, "enter", cls="bus")),
    ]
    t = 0.0
    for at, hit in events:
        watched(state, B0 + t, B0 + at)
        state.hit(hit)
        t = at
    watched(state, B0 + t, B0 + 100)
    cars, buses = sorted(rows_of(state, ZoneBin), key=lambda r: r.cls != "car")
    assert (cars.cls, cars.entries, cars.exits, cars.occupancy_max) == ("car", 2, 2, 2)
    assert cars.occupancy_mean == pytest.approx(1.0, abs=1e-6)
    assert (cars.dwell_count, cars.dwell_p50_s, cars.dwell_p90_s) == (2, 50.0, 66.0)
    assert (buses.cls, buses.entries, buses.exits, buses.occupancy_max) == ("bus", 1, 0, 1)
    assert buses.occupancy_mean == pytest.approx(5 / 100, abs=1e-6)
    assert (buses.dwell_count, buses.dwell_p50_s) == (0, None)


def test_late_stamped_zone_hits_correct_the_occupancy() -> None:
    """A leave stamped at the tracklet's last detection arrives when it times out, 3 s
    later, and an enter waits for confirmation: occupancy is corrected back to their
    instants. Guards 3 phantom seconds per tracklet lost inside a zone."""
    state = tb.CameraTraffic(CAM)
    watched(state, B0, B0 + 12)
    state.hit(zone(1, 1, B0 + 10, "enter"))  # confirmed at 12 s
    watched(state, B0 + 12, B0 + 53)
    state.hit(zone(1, 2, B0 + 50, "leave", dwell=40.0))  # timed out at 53 s
    watched(state, B0 + 53, B0 + 100)
    (z,) = rows_of(state, ZoneBin)
    assert z.occupancy_mean == pytest.approx(40 / 100, abs=1e-6)


def test_occupancy_runs_on_across_bins_and_not_over_pauses() -> None:
    """A car parked in the zone from the middle of one bin to the middle of the next: the
    second bin gets a row without any entry; a 60 s pause of the camera counts neither
    as watched nor as occupied. Guards parked cars missing from later bins, and a
    camera's outage read as occupancy."""
    state = tb.CameraTraffic(CAM)
    watched(state, B0 + BIN_S - 100, B0 + BIN_S - 50, step=1.0)
    state.hit(zone(1, 1, B0 + BIN_S - 50, "enter"))
    watched(state, B0 + BIN_S - 50, B0 + BIN_S + 50, step=1.0)
    watched(state, B0 + BIN_S + 110, B0 + BIN_S + 150, step=1.0)  # 60 s without frames
    (first,) = rows_of(state, ZoneBin, B0)
    assert first.occupancy_mean == pytest.approx(50 / 100)
    (second,) = rows_of(state, ZoneBin, B0 + BIN_S)
    assert (second.entries, second.occupancy_max) == (0, 1)
    assert second.occupancy_mean == pytest.approx(1.0)  # inside for all 90 s watched
    assert state.bins[B0 + BIN_S].observed_s == pytest.approx(90.0)


def test_removed_zones_hold_nobody() -> None:
    """Guards a zone deleted from the camera file keeping its occupants for ever (its
    tracklets never send a leave)."""
    state = tb.CameraTraffic(CAM)
    watched(state, B0, B0 + 10)
    state.hit(zone(1, 1, B0 + 10, "enter"))
    state.keep_zones(["box"])
    assert state.inside == {("box", "car"): 1}
    state.keep_zones([])
    watched(state, B0 + 10, B0 + 20)
    assert state.inside == {}
    assert state.tracks[1].zones == {}


def test_speeds_become_a_distribution() -> None:
    """Ten speeds 41..50 km/h -> p15 42.35, p50 45.5, p85 48.65 (numpy's linear
    interpolation); a repeat is dropped. Guards per-vehicle speeds leaving (only the
    distribution is a row) and double counting."""
    state = tb.CameraTraffic(CAM)
    state.frame(B0, B0)
    for i in range(10):
        state.speed(SpeedSample(CAM, i, "north", "car", B0 + 10 + i, 1, 41.0 + i))
    assert not state.speed(SpeedSample(CAM, 3, "north", "car", B0 + 13, 1, 44.0))
    (row,) = rows_of(state, SpeedBin)
    assert (row.count, row.p15_kmh, row.p50_kmh, row.p85_kmh) == (10, 42.35, 45.5, 48.65)
    assert set(SpeedBin.model_fields) >= {"p15_kmh"} and "track_id" not in SpeedBin.model_fields


@pytest.mark.parametrize(
    ("histogram", "q", "want"),
    [
        ({}, 0.5, None),
        ({7.0: 1}, 0.9, 7.0),
        ({1.0: 1, 2.0: 1, 3.0: 1, 4.0: 1}, 0.5, 2.5),
        ({1.0: 3, 10.0: 1}, 0.5, 1.0),
        ({1.0: 3, 10.0: 1}, 0.9, 7.3),
        ({5.0: 2, 1.0: 2}, 0.0, 1.0),
    ],
)
def test_quantiles_match_numpy(histogram: dict[float, int], q: float, want: float | None) -> None:
    """Guards percentiles of a histogram that disagree with the same values listed."""
    assert tb.quantile(histogram, q) == want


def test_camera_up_and_down() -> None:
    """Frames in a bin: up. Frames stop for two whole bins and come back: those bins are
    down (null), not 0. Guards a silent camera read as an empty road."""
    state = tb.CameraTraffic(CAM)
    state.frame(B0 + 5, B0)
    state.frame(B0 + 3 * BIN_S + 5, B0 + 3 * BIN_S)
    ups = {b: state.rows(b)[0] for b in sorted(state.bins)}
    assert {b - B0: (r.up, type(r)) for b, r in ups.items()} == {
        0: (True, CameraBin),
        BIN_S: (False, CameraBin),
        2 * BIN_S: (False, CameraBin),
        3 * BIN_S: (True, CameraBin),
    }


def test_bins_settle_and_late_hits_are_dropped() -> None:
    """A bin is sent a last time once the camera's clock (run on by wall time when frames
    stop) is ``settle_s`` past its end, then forgotten; a hit for it after that is dropped
    and counted, not sent as a fresh bin that would overwrite the stored count."""
    state = tb.CameraTraffic(CAM)
    state.frame(B0 + 10, 5000.0)
    state.hit(cross(1, 1, B0 + 10))
    assert [type(r).__name__ for r in state.take_rows(5000.0)] == ["CameraBin", "CountBin"]
    state.hit(cross(2, 1, B0 + 20))
    assert state.take_rows(5001.0, emit_s=5) == []  # not yet: at most every 5 s
    # the camera stops at B0 + 10; wall time runs its clock past the bin's end + 60 s
    wall_settled = 5000.0 + (BIN_S - 10) + 60
    assert state.take_rows(wall_settled - 1, emit_s=1e9, settle_s=60) == []
    final = state.take_rows(wall_settled, emit_s=1e9, settle_s=60)  # a dirty bin settles
    assert [r.count for r in final if isinstance(r, CountBin)] == [2]
    assert state.bins == {} and state.sealed == B0 + BIN_S
    assert not state.hit(cross(3, 1, B0 + 30)) and state.late == 1
    assert state.take_rows(wall_settled + 100) == []


def test_a_settling_bin_goes_out_even_unchanged() -> None:
    """Guards a bin whose last message was lost (the table marked its rows sent, then the
    worker died before the message was delivered) staying a step behind in the store."""
    state = tb.CameraTraffic(CAM)
    state.frame(B0 + 10, 5000.0)
    state.hit(cross(1, 1, B0 + 10))
    assert state.take_rows(5000.0)  # sent: marked clean
    settled = 5000.0 + (BIN_S - 10) + 60
    final = state.take_rows(settled, emit_s=1e9, settle_s=60)
    assert [r.count for r in final if isinstance(r, CountBin)] == [1]


def test_tracklet_memory_is_forgotten_but_not_while_inside() -> None:
    """Guards the per-tracklet memory growing without end (a busy camera sees thousands
    of tracklets a day), and a parked car's occupancy lost with its memory."""
    state = tb.CameraTraffic(CAM)
    state.frame(B0, 0.0)
    state.hit(cross(1, 1, B0 + 1))
    state.hit(zone(2, 1, B0 + 1, "enter"))
    state.frame(B0 + 2, 0.0)
    state.take_rows(tb.TRACK_MEMORY_S + 10)
    assert set(state.tracks) == {2}


def test_the_state_survives_encoding() -> None:
    """Guards a restart (the state comes back from the table's changelog) losing any
    part of the bins or of what they remember."""
    state = tb.CameraTraffic(CAM)
    watched(state, B0, B0 + 30)
    state.hit(cross(1, 1, B0 + 10))
    state.hit(cross(1, 2, B0 + 11, rule="east", way="out"))
    state.hit(zone(2, 1, B0 + 12, "enter"))
    state.hit(zone(3, 1, B0 + 13, "enter", cls="truck"))
    state.hit(zone(3, 2, B0 + 20, "leave", cls="truck", dwell=7.0))
    state.speed(SpeedSample(CAM, 1, "north", "car", B0 + 10, 1, 47.3))
    back = tb.CameraTraffic.from_json(state.to_json())
    assert back == state
    assert back.rows(B0) == state.rows(B0)
