"""Plate pseudonyms: the key schedule (a key per UTC day, the one-hour overlap, keys
forgotten) and the keyed hash. Pure: the time is a value, the key source injected."""

from __future__ import annotations

import hashlib
import hmac
import itertools
from datetime import date

import pytest

from civicsight.plate_text import PatternError, skeleton
from civicsight.pseudonyms import (
    KEY_BYTES,
    OVERLAP_S,
    KeySchedule,
    day_start,
    key_days,
    key_end,
    pseudonym,
    sightings,
)

DAY = date(2026, 12, 4)
MIDNIGHT = day_start(date(2026, 12, 5))
PLATE = "AB12CDE"


class CountingKeys:
    """An injected key source: distinct, recognisable keys, and a record of each draw."""

    def __init__(self) -> None:
        self.drawn: list[bytes] = []
        self._n = itertools.count(1)

    def __call__(self, size: int) -> bytes:
        key = next(self._n).to_bytes(4, "big") * (size // 4)
        self.drawn.append(key)
        return key


@pytest.mark.parametrize(
    ("at", "days"),
    [
        (MIDNIGHT - 1, (DAY,)),
        (MIDNIGHT, (date(2026, 12, 5), DAY)),
        (MIDNIGHT + OVERLAP_S - 1, (date(2026, 12, 5), DAY)),
        (MIDNIGHT + OVERLAP_S, (date(2026, 12, 5),)),
        (MIDNIGHT + 12 * 3600, (date(2026, 12, 5),)),
    ],
)
def test_key_days_overlap_in_the_first_hour_only(at: float, days: tuple[date, ...]) -> None:
    """Guards a trip across midnight never matched (no overlap), or every sighting sent
    twice all day (an overlap that never ends)."""
    assert key_days(at) == days


def test_pseudonym_is_the_truncated_hmac_of_the_skeleton() -> None:
    """Guards a plain hash (enumerable: README), a hash of the raw text (look-alike
    misreads between cameras would never match), or an untruncated digest."""
    key = bytes(range(32))
    got = pseudonym(key, "ab-12 cde")
    want = hmac.new(key, skeleton("AB12CDE").encode(), hashlib.sha256).hexdigest()[:16]
    assert got == want and len(got) == 16
    assert got == pseudonym(key, "A812CDE")  # B and 8: one look-alike class
    assert got != hashlib.sha256(b"AB12CDE").hexdigest()[:16]
    assert pseudonym(key, "AB12CDF") != got
    assert pseudonym(bytes(reversed(range(32))), "AB12CDE") != got


@pytest.mark.parametrize("bad", ["", "AB 12 CD!", "X" * 13])
def test_no_pseudonym_for_what_is_no_plate(bad: str) -> None:
    with pytest.raises(PatternError):
        pseudonym(bytes(32), bad)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="128 bits"):
        pseudonym(b"short", PLATE)


def test_one_key_per_day_drawn_once_and_forgotten_after_the_overlap() -> None:
    """Guards a key drawn per read (nothing would ever match), a key kept past its day
    (pseudonyms linkable across days), or a key forgotten before the overlap ends."""
    source = CountingKeys()
    keys = KeySchedule(source)
    morning = keys.pseudonyms(PLATE, MIDNIGHT - 10 * 3600)
    evening = keys.pseudonyms(PLATE, MIDNIGHT - 60)
    assert morning == evening and len(source.drawn) == 1
    after = keys.pseudonyms(PLATE, MIDNIGHT + 60)
    assert [d for d, _ in after] == [date(2026, 12, 5), DAY]
    assert after[1] == evening[0]  # the overlap: yesterday's pseudonym again
    assert after[0][1] != evening[0][1]
    assert len(source.drawn) == 2 and keys.days == (DAY, date(2026, 12, 5))
    assert keys.forget(key_end(DAY) - 1) == 0
    assert keys.forget(key_end(DAY)) == 1 and keys.days == (date(2026, 12, 5),)
    late = keys.pseudonyms(PLATE, MIDNIGHT + OVERLAP_S + 1)
    assert late == [after[0]] and len(source.drawn) == 2


def test_two_schedules_are_unlinkable() -> None:
    """Guards a key derived from anything predictable (a fixed seed, the date, a shared
    class attribute): two services, or one service before and after a restart, must give
    unrelated pseudonyms to the same plates."""
    plates = [f"AB{n:02d}CDE" for n in range(100)]
    first, second = KeySchedule(), KeySchedule()
    at = MIDNIGHT - 3600
    a = {p: first.pseudonyms(p, at)[0][1] for p in plates}
    b = {p: second.pseudonyms(p, at)[0][1] for p in plates}
    assert not set(a.values()) & set(b.values())
    assert len(set(a.values())) == len({skeleton(p) for p in plates})  # 1/7 share a class


def test_the_key_is_never_shown() -> None:
    source = CountingKeys()
    keys = KeySchedule(source)
    keys.pseudonyms(PLATE, MIDNIGHT - 60)
    text = repr(keys) + str(keys) + repr(vars(keys).keys())
    assert source.drawn[0].hex() not in text and str(source.drawn[0]) not in text
    assert "2026-12-04" in repr(keys)


def test_a_key_source_of_the_wrong_size_is_refused() -> None:
    keys = KeySchedule(lambda n: b"x" * (n - 1))
    with pytest.raises(ValueError, match=f"not {KEY_BYTES}"):
        keys.pseudonyms(PLATE, MIDNIGHT)


def test_sightings_carry_no_plate_and_no_tracker_id() -> None:
    """Guards a sighting that leaks the plate (or the track it came from) to analytics."""
    keys = KeySchedule(CountingKeys())
    found = sightings(keys, "gate", MIDNIGHT + 10, "car", PLATE)
    assert [s.key_day for s in found] == [date(2026, 12, 5), DAY]
    for s in found:
        raw = s.to_bytes().decode()
        assert PLATE not in raw and "track" not in raw
        assert set(s.model_dump()) == {
            "schema_version",
            "camera_id",
            "captured_at",
            "cls",
            "pseudonym",
            "key_day",
        }
