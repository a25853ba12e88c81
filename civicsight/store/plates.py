"""Plate search logic shared by every store backend: pure, no database here.

- ``normalise``: upper case, spaces and dashes dropped; plates hold A-Z and 0-9 only.
- ``skeleton``: each character replaced by its OCR-confusion class (0/O/D/Q, 1/I, 2/Z,
  5/S, 6/G, 8/B), so a plate and its usual misreads share one skeleton. The stores index
  the trigrams of the skeleton (``^`` and ``$`` mark the start and end), which finds
  candidates for exact, pattern and fuzzy search alike; the exact check comes after.
- ``ocr_distance``: edit distance in which swapping two characters of one confusion
  class costs ``CONFUSION_COST`` and any other insertion, deletion or substitution 1.
- ``PlatePattern``: ``AB?12*`` (``?`` one character, ``*`` any run). A pattern must hold
  at least one run of three known characters (the start or end of the plate counts as
  one), else it would match a large part of all plates: ``PatternError``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

CONFUSION_CLASSES = ("0ODQ", "1I", "2Z", "5S", "6G", "8B")
CONFUSION_COST = 0.25
MAX_PLATE = 12
MAX_FUZZY = 2.0
_CLASS_OF = {c: group[0] for group in CONFUSION_CLASSES for c in group}
_PLATE_CHARS = re.compile(r"^[A-Z0-9]+$")
_PATTERN_CHARS = re.compile(r"^[A-Z0-9?*]+$")


class PatternError(ValueError):
    """A plate, pattern or fuzzy query that cannot be searched (the message says why)."""


def normalise(text: str) -> str:
    return re.sub(r"[\s\-]", "", text).upper()


def skeleton(text: str) -> str:
    return "".join(_CLASS_OF.get(c, c) for c in text)


def trigrams(padded: str) -> list[str]:
    return [padded[i : i + 3] for i in range(len(padded) - 2)]


def plate_grams(text: str) -> list[str]:
    """The distinct index grams of a stored plate (its padded skeleton's trigrams)."""
    return sorted(set(trigrams(f"^{skeleton(text)}$")))


def substitution_cost(a: str, b: str) -> float:
    if a == b:
        return 0.0
    return CONFUSION_COST if _CLASS_OF.get(a, a) == _CLASS_OF.get(b, b) else 1.0


@lru_cache(maxsize=65536)
def ocr_distance(a: str, b: str) -> float:
    """Weighted edit distance (see the module doc); symmetric, 0 only for equal texts."""
    prev = [float(j) for j in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        cur = [float(i)]
        for j, cb in enumerate(b, 1):
            cur.append(
                min(prev[j] + 1.0, cur[j - 1] + 1.0, prev[j - 1] + substitution_cost(ca, cb))
            )
        prev = cur
    return round(prev[-1], 4)


def check_plate(text: str) -> str:
    plate = normalise(text)
    if not plate or len(plate) > MAX_PLATE or not _PLATE_CHARS.fullmatch(plate):
        raise PatternError(f"a plate is 1-{MAX_PLATE} characters A-Z or 0-9, got {text!r}")
    return plate


@dataclass(frozen=True)
class PlatePattern:
    """A validated wildcard pattern: ``text`` as typed (normalised), ``glob`` for the
    exact check (SQLite GLOB and Elasticsearch wildcard share ``?`` and ``*``), ``grams``
    the skeleton trigrams every match must contain."""

    text: str
    grams: tuple[str, ...]

    @property
    def glob(self) -> str:
        return self.text

    def matches(self, plate: str) -> bool:
        regex = "".join("." if c == "?" else ".*" if c == "*" else c for c in self.text)
        return re.fullmatch(regex, plate) is not None

    @classmethod
    def parse(cls, raw: str) -> PlatePattern:
        text = re.sub(r"\*+", "*", normalise(raw))
        if not text or len(text) > 2 * MAX_PLATE or not _PATTERN_CHARS.fullmatch(text):
            raise PatternError(
                f"a pattern is A-Z, 0-9, ? (one character) and * (any run), at most "
                f"{2 * MAX_PLATE} long; got {raw!r}"
            )
        if len(text.replace("*", "")) > MAX_PLATE:
            raise PatternError(f"a pattern cannot match a plate of at most {MAX_PLATE} characters")
        padded = ("" if text.startswith("*") else "^") + skeleton(text)
        padded += "" if text.endswith("*") else "$"
        grams = {g for run in re.split(r"[?*]", padded) for g in trigrams(run)}
        if not grams:
            raise PatternError(
                f"pattern {raw!r} is too vague: give at least three known characters in a "
                "row (or two at the start or end of the plate)"
            )
        return cls(text, tuple(sorted(grams)))


def fuzzy_grams(plate: str, max_distance: float) -> tuple[list[str], int]:
    """The query's grams and how many of them a candidate within ``max_distance`` must
    share: each edit that costs 1 changes at most three trigrams; confusions none."""
    if not 0 < max_distance <= MAX_FUZZY:
        raise PatternError(f"fuzzy distance must be in (0, {MAX_FUZZY}], got {max_distance}")
    grams = plate_grams(plate)
    need = len(grams) - 3 * math.floor(max_distance)
    if need < 1:
        raise PatternError(
            f"plate {plate!r} is too short for fuzzy distance {max_distance}: "
            "give more characters or a smaller distance"
        )
    return grams, need
