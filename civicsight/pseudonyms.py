"""Plate pseudonyms for journey times: a key per UTC day, kept in memory only (pure).

Traffic analytics may learn that *the same vehicle* passed camera A and then camera B,
never which vehicle. The plates service therefore publishes, for every voted plate read,
a ``PlateSighting`` whose ``pseudonym`` is

    HMAC-SHA256(key of the day, skeleton(normalised plate)), first 64 bits, hex

- **Why a key, not a plain hash.** The plate space is small enough to enumerate: a UK
  plate (``LLDDLLL``: 2 letters, 2 digits, 3 letters, 24 letters in use) has at most
  24^5 x 10^2 = 8.0e8 values; a single GPU computes about 1e10 SHA-256 hashes a second,
  so an unkeyed hash of every possible plate takes a tenth of a second and reverses any
  "anonymous" token. With a 256-bit random key nobody outside the process can compute a
  single pseudonym, so there is nothing to enumerate against.
- **Why a key per day, in memory only.** A pseudonym links the sightings of one vehicle.
  A key that never changed would link them for ever (a movement profile under a
  nickname); a key per day links one day's journeys, the least journey times need. The
  key is drawn at random (``secrets``) when first needed, never written, logged or
  published, and forgotten when its day (plus the overlap) is over: afterwards nobody,
  the hub included, can tell which plate a pseudonym was, nor link it to the next day's.
  A restart of the service draws new keys, so a journey under way at the restart is not
  matched (its two ends have different pseudonyms): a loss, on purpose.
- **The overlap.** Within the first hour (``OVERLAP_S``) of a UTC day the service sends
  each sighting twice: under the new day's key and under the previous day's, so a trip
  that crosses midnight still has two ends under one key. The matcher
  (``civicsight.plate_journeys``) counts a journey only under the key of the day of its
  *departure*: a trip leaving at 23:50 matches under yesterday's key only (its departure
  was never sent under today's); one leaving at 00:10 matches under both, and counts
  under today's. So every journey of at most ``OVERLAP_S`` counts exactly once.
- **Look-alikes.** The plate is reduced to its skeleton (``civicsight.plate_text``: 0/O/D/Q,
  8/B, 5/S, ... one class each) before hashing, so the usual OCR confusions between two
  cameras do not break a match. Two real plates that differ only in look-alikes share a
  pseudonym for the day: rare, and a false journey at worst, never a disclosure.
- **Truncation.** 64 bits: among a million plates a day the chance of any two colliding
  is about 3e-8, and the pseudonym stays short on the bus. Truncating does not weaken the
  key: without it not one bit can be computed.

Time here is the capture time of the read, passed in: the key schedule is a pure
function of it and of an injected key source, so it is tested without a clock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from civicsight.events import ObjectClass, PlateSighting
from civicsight.plate_text import check_plate, skeleton

DAY_S = 86_400
OVERLAP_S = 3_600.0
"""Within the first hour of a UTC day, sightings are also sent under the previous day's key."""
KEY_BYTES = 32
PSEUDONYM_HEX = 16
"""64 bits (see the module docstring)."""

KeySource = Callable[[int], bytes]
"""Returns that many random bytes (``secrets.token_bytes``; tests inject their own)."""


def utc_day(t: float) -> date:
    """The UTC day holding the Unix time ``t``."""
    return datetime.fromtimestamp(t, UTC).date()


def day_start(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def key_end(day: date) -> float:
    """When the key of ``day`` is last used: the end of the day plus the overlap."""
    return day_start(day) + DAY_S + OVERLAP_S


def key_days(t: float) -> tuple[date, ...]:
    """The days whose keys pseudonymise a read at ``t``: its own day, and within the first
    ``OVERLAP_S`` of that day the previous one too (newest first)."""
    today = utc_day(t)
    if t - day_start(today) < OVERLAP_S:
        return today, today - timedelta(days=1)
    return (today,)


def pseudonym(key: bytes, plate: str) -> str:
    """The pseudonym of ``plate`` under ``key``: HMAC-SHA256 of the plate's skeleton, cut
    to ``PSEUDONYM_HEX`` hex digits. Raises ``PatternError`` for a text that is no plate."""
    if len(key) < 16:
        raise ValueError("a pseudonym key has at least 128 bits")
    digest = hmac.new(key, skeleton(check_plate(plate)).encode(), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX]


class KeySchedule:
    """The keys of the days being pseudonymised, drawn from ``key_source`` when a day is
    first needed and forgotten when it is over (``key_end``). It never shows a key: no
    accessor returns one and its ``repr`` names only the days."""

    def __init__(self, key_source: KeySource = secrets.token_bytes) -> None:
        self._source = key_source
        self._keys: dict[date, bytes] = {}

    def __repr__(self) -> str:
        return f"KeySchedule(days={sorted(str(d) for d in self._keys)})"

    @property
    def days(self) -> tuple[date, ...]:
        """The days whose keys are held now."""
        return tuple(sorted(self._keys))

    def forget(self, now: float) -> int:
        """Drop every key whose day (plus the overlap) has ended by ``now``; how many."""
        gone = [d for d in self._keys if key_end(d) <= now]
        for d in gone:
            del self._keys[d]
        return len(gone)

    def pseudonyms(self, plate: str, at: float) -> list[tuple[date, str]]:
        """(key day, pseudonym) of ``plate`` read at ``at``: one, or two in the overlap."""
        self.forget(at)
        out = []
        for day in key_days(at):
            key = self._keys.get(day)
            if key is None:
                key = self._keys[day] = self._source(KEY_BYTES)
                if len(key) != KEY_BYTES:
                    raise ValueError(f"the key source gave {len(key)} bytes, not {KEY_BYTES}")
            out.append((day, pseudonym(key, plate)))
        return out


def sightings(
    keys: KeySchedule, camera_id: str, captured_at: float, cls: ObjectClass, plate: str
) -> list[PlateSighting]:
    """The ``PlateSighting``s of one plate read (one per key day in use)."""
    return [
        PlateSighting(
            camera_id=camera_id, captured_at=captured_at, cls=cls, pseudonym=p, key_day=day
        )
        for day, p in keys.pseudonyms(plate, captured_at)
    ]
