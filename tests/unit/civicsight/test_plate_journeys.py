"""The plate journey matcher (``civicsight.plate_journeys``): consecutive sightings of one
pseudonym become journey times per bin; the midnight overlap counts each journey once;
pseudonyms are forgotten in time. Pure: sightings and times are values."""

from __future__ import annotations

from datetime import date

import pytest

from civicsight.events import PlateSighting
from civicsight.plate_journeys import JourneyPart, PlateJourneys, part_times
from civicsight.pseudonyms import OVERLAP_S, KeySchedule, day_start, sightings, utc_day
from civicsight.traffic import TrafficQuery, bin_start

MIDNIGHT = day_start(date(2026, 12, 5))
NOON = MIDNIGHT - 12 * 3600
RUN = "00c0ffee"
ALL = TrafficQuery(since=0.0, until=4e9)


def sighting(
    camera: str, at: float, p: str = "0123456789abcdef", cls: str = "car"
) -> PlateSighting:
    """A sighting under the key of its own day."""
    return PlateSighting(
        camera_id=camera, captured_at=at, cls=cls, pseudonym=p, key_day=utc_day(at)
    )  # type: ignore[arg-type]


def run_all(
    matcher: PlateJourneys, items: list[PlateSighting]
) -> dict[tuple[object, ...], JourneyPart]:
    """Feed one at a time (capture clock as wall clock), then flush; the latest parts."""
    parts: dict[tuple[object, ...], JourneyPart] = {}
    for s in items:
        for p in matcher.add([s], s.captured_at):
            parts[(*p.key, p.run)] = p
    for p in matcher.tick(float("inf")):
        parts[(*p.key, p.run)] = p
    return parts


def times(parts: dict[tuple[object, ...], JourneyPart]) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = {}
    for p in parts.values():
        out.setdefault((p.origin, p.destination), []).extend(p.seconds)
    return out


def test_a_journey_runs_from_the_last_read_at_one_camera_to_the_first_at_the_next() -> None:
    """Guards a journey per read (a plate is read every second while in view), or one
    timed from the first read at the origin."""
    m = PlateJourneys(run=RUN, lateness_s=0)
    parts = run_all(
        m,
        [
            sighting("a", NOON),
            sighting("a", NOON + 4),
            sighting("b", NOON + 124),
            sighting("b", NOON + 126),
        ],
    )
    assert times(parts) == {("a", "b"): [120.0]}
    (part,) = parts.values()
    assert part.bin_start == bin_start(NOON + 124) and part.cls == "car" and part.run == RUN
    assert m.stats.journeys == 1 and m.pending == 0  # flushed after the idle tick


@pytest.mark.parametrize(
    ("gap", "journeys", "stat"),
    [(1800.0, 1, None), (1801.0, 0, "too_long")],
)
def test_longer_than_the_longest_journey_is_two_trips(
    gap: float, journeys: int, stat: str | None
) -> None:
    """Guards a car parked all afternoon counted as a four-hour journey."""
    m = PlateJourneys(run=RUN, max_journey_s=1800, lateness_s=0)
    run_all(m, [sighting("a", NOON), sighting("b", NOON + gap)])
    assert m.stats.journeys == journeys
    assert (m.stats.too_long == 1) is (stat == "too_long")


def test_max_journey_may_not_exceed_the_key_overlap() -> None:
    """Guards a setting under which a trip across midnight has its two ends under no one
    key (the previous day's key stops after the overlap)."""
    with pytest.raises(ValueError, match="overlap"):
        PlateJourneys(run=RUN, max_journey_s=OVERLAP_S + 1)


def test_sightings_out_of_order_within_the_lateness_are_matched_in_capture_order() -> None:
    """Guards two plates services delivering a little out of order: B's read arriving
    before A's last read must not end the journey early, or count B -> A."""
    m = PlateJourneys(run=RUN, lateness_s=30)
    parts = run_all(m, [sighting("a", NOON), sighting("b", NOON + 60), sighting("a", NOON + 10)])
    assert times(parts) == {("a", "b"): [50.0]}


def test_a_sighting_older_than_its_pseudonyms_last_stop_elsewhere_is_dropped() -> None:
    m = PlateJourneys(run=RUN, lateness_s=0)
    parts = run_all(m, [sighting("a", NOON), sighting("b", NOON + 60), sighting("c", NOON + 30)])
    assert times(parts) == {("a", "b"): [60.0]}
    assert m.stats.unordered == 1


def test_a_sighting_older_than_the_open_bins_is_late() -> None:
    """Guards a late sighting reopening a bin already forgotten: its part would replace
    the run's earlier part of that bin with fewer journeys."""
    m = PlateJourneys(run=RUN, max_journey_s=600, lateness_s=0)
    run_all(
        m, [sighting("a", NOON, "aaaaaaaaaaaaaaaa"), sighting("b", NOON + 5000, "bbbbbbbbbbbbbbbb")]
    )
    assert m.add([sighting("c", NOON + 100, "cccccccccccccccc")], NOON + 5000) == []
    assert m.stats.late == 1


def test_parts_grow_per_bin_and_name_the_run() -> None:
    """Guards a part that holds only the last batch's journeys (the store replaces a part
    by key: it must hold all of the run's journeys of its bin)."""
    m = PlateJourneys(run=RUN, lateness_s=0)
    first = m.add(
        [sighting("a", NOON, "1111111111111111"), sighting("b", NOON + 10, "1111111111111111")],
        NOON + 10,
    )
    second = m.add(
        [sighting("a", NOON + 1, "2222222222222222"), sighting("b", NOON + 21, "2222222222222222")],
        NOON + 21,
    )
    assert [p.seconds for p in first] == [(10.0,)]
    assert [p.seconds for p in second] == [(10.0, 20.0)]
    assert part_times(second, ALL) == {(bin_start(NOON), "a", "b", "car"): [10.0, 20.0]}


def test_parts_of_two_runs_are_read_together() -> None:
    """Guards a restarted indexer whose parts replace the bin's journeys of before."""
    one = JourneyPart(
        bin_start=NOON, origin="a", destination="b", cls="car", run="aaaaaaaa", seconds=(10.0,)
    )
    two = one.model_copy(update={"run": "bbbbbbbb", "seconds": (30.0, 20.0)})
    assert part_times([one, two], ALL) == {(NOON, "a", "b", "car"): [10.0, 30.0, 20.0]}
    assert part_times([one], TrafficQuery(since=0, until=4e9, camera="c")) == {}
    assert part_times([one], TrafficQuery(since=0, until=4e9, cls="bus")) == {}
    assert part_times([one], TrafficQuery(since=NOON + 1, until=4e9)) == {}


@pytest.mark.parametrize(
    ("depart", "arrive"),
    [
        (MIDNIGHT - 600, MIDNIGHT + 600),  # crosses midnight: only yesterday's key has both
        (MIDNIGHT + 60, MIDNIGHT + 900),  # inside the overlap: both keys have both ends
        (MIDNIGHT - 3000, MIDNIGHT - 1000),  # the evening before
        (MIDNIGHT + OVERLAP_S - 300, MIDNIGHT + OVERLAP_S + 300),  # leaves the overlap
    ],
)
def test_every_journey_around_midnight_counts_exactly_once(depart: float, arrive: float) -> None:
    """Guards the overlap's double count (a journey inside the first hour seen under both
    keys) and its opposite (a trip across midnight lost). The plates service's real key
    schedule makes the sightings; the indexer's matcher counts."""
    keys = KeySchedule()
    items = [
        *sightings(keys, "a", depart - 5, "car", "AB12CDE"),
        *sightings(keys, "a", depart, "car", "AB12CDE"),
        *sightings(keys, "b", arrive, "car", "AB12CDE"),
        *sightings(keys, "b", arrive + 3, "car", "AB12CDE"),
    ]
    m = PlateJourneys(run=RUN, max_journey_s=3600, lateness_s=0)
    parts = run_all(m, items)
    assert times(parts) == {("a", "b"): [arrive - depart]}


def test_pseudonyms_are_forgotten_after_a_journey_time_and_at_their_keys_end() -> None:
    """Guards pseudonyms kept in memory beyond what matching needs (README: never longer
    than the key's life)."""
    m = PlateJourneys(run=RUN, max_journey_s=600, lateness_s=0)
    m.add([sighting("a", NOON, "aaaaaaaaaaaaaaaa")], NOON)
    assert m.pending == 1
    m.add([sighting("a", NOON + 700, "bbbbbbbbbbbbbbbb")], NOON + 700)
    assert m.pending == 1  # the first is a journey time behind: gone
    end = PlateJourneys(run=RUN, max_journey_s=3600, lateness_s=0)
    end.add([sighting("a", MIDNIGHT - 60, "cccccccccccccccc")], MIDNIGHT - 60)
    assert end.pending == 1
    end.tick(MIDNIGHT + OVERLAP_S + 20)  # the wall clock passed the key's end
    assert end.pending == 0
    idle = PlateJourneys(run=RUN, max_journey_s=600, lateness_s=0)
    idle.add([sighting("a", NOON, "dddddddddddddddd")], NOON)
    idle.tick(NOON + 601)
    assert idle.pending == 0


def test_bad_runs_and_lateness_are_refused() -> None:
    with pytest.raises(ValueError, match="lateness"):
        PlateJourneys(run=RUN, lateness_s=-1)
    with pytest.raises(ValueError):
        JourneyPart(
            bin_start=NOON, origin="a", destination="b", cls="car", run="run one", seconds=(1.0,)
        )
