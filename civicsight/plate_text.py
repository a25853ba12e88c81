"""Plate text, once for the whole hub: which characters a plate holds, which ones readers
mistake for each other, how far apart two reads are, and wildcard patterns.

The plates service (choosing between twins by position), the store's search (fuzzy search
and its skeleton index) and the cross-camera join (plate evidence) all read the one
look-alike table here, so they agree on what a misread is. Pure: strings in, values out.

- ``LOOKALIKES``: pairs of characters readers confuse, each a *twin* (one glyph on many
  plate fonts: only the position on the plate tells them apart) or *near* (alike in
  shape: confused on small, blurred or dirty plates, told apart on clear ones). Derived
  from it: ``lookalike(a, b)`` (any pair), ``TWINS`` (the twin pairs) and ``CLASSES``
  (characters joined by any chain of pairs, the ``skeleton`` every search index uses).
- ``normalise``: upper case, separators (spaces, dashes, dots) dropped; ``clean`` also
  drops whatever else is not A-Z or 0-9 (a reader's output, a label); ``check_plate``
  refuses it instead (a search).
- ``EditCosts.distance``: an edit distance in which a look-alike costs ``lookalike``, a
  character missing at either end ``clip``, anything else ``edit``. The costs are
  parameters because uses differ (see ``civicsight.store.plates`` and
  ``civicsight.streams.association.plates``); the table is not.
- ``PlatePattern``: ``AB?12*`` (``?`` one character, ``*`` any run), with at least three
  known characters in a row (an end of the plate counts as one), else ``PatternError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
PLATE_CHARS = LETTERS + DIGITS
MAX_PLATE = 12
"""Most characters of a plate (``PlateRead.text`` holds 1-12)."""

Kind = Literal["twin", "near"]

LOOKALIKES: tuple[tuple[str, Kind], ...] = (
    ("0O", "twin"),
    ("1I", "twin"),
    ("2Z", "twin"),
    ("5S", "twin"),
    ("6G", "twin"),
    ("8B", "twin"),
    ("0D", "near"),
    ("0Q", "near"),
    ("OD", "near"),
    ("OQ", "near"),
    ("DQ", "near"),
    ("17", "near"),
)
"""The look-alike table: pairs of characters plate readers mistake for each other.

Twins are drawn alike on many plate fonts, so a reader cannot tell them apart and a
region format decides by position (a twin pair is one letter and one digit). Near
look-alikes differ in a detail (D's straight side, Q's tail, 7's missing foot): a
reader confuses them on poor crops only, so matching treats them as misreads while the
plates service does not trade one for the other. Every pair seen confused in the sample
reads (``alpr_eu``, ``../shared/mtmc`` scenarios) is here."""


class PatternError(ValueError):
    """A plate, plate pattern or plate format that cannot be used (the message says why)."""


def _check_table(table: Iterable[tuple[str, Kind]]) -> None:
    seen: set[frozenset[str]] = set()
    for pair, kind in table:
        if len(pair) != 2 or pair[0] == pair[1] or set(pair) - set(PLATE_CHARS):
            raise ValueError(f"a look-alike is two different plate characters, not {pair!r}")
        if frozenset(pair) in seen:
            raise ValueError(f"look-alike {pair!r} listed twice")
        seen.add(frozenset(pair))
        if kind == "twin" and {pair[0] in DIGITS, pair[1] in DIGITS} != {True, False}:
            raise ValueError(f"twin {pair!r} must be a letter and a digit (formats choose)")


def _classes(pairs: Iterable[str]) -> tuple[str, ...]:
    """Characters joined by any chain of pairs, each class sorted (digits first)."""
    parent: dict[str, str] = {}

    def root(c: str) -> str:
        while parent.setdefault(c, c) != c:
            c = parent[c]
        return c

    for pair in pairs:
        parent[root(pair[1])] = root(pair[0])
    groups: dict[str, set[str]] = {}
    for c in parent:
        groups.setdefault(root(c), set()).add(c)
    return tuple(sorted("".join(sorted(g)) for g in groups.values()))


_check_table(LOOKALIKES)
_PAIRS = frozenset(frozenset(pair) for pair, _ in LOOKALIKES)
TWINS: tuple[str, ...] = tuple(pair for pair, kind in LOOKALIKES if kind == "twin")
"""The twin pairs: the look-alikes the plates service lets a region format choose between."""
CLASSES: tuple[str, ...] = _classes(pair for pair, _ in LOOKALIKES)
"""Look-alike classes (a partition): a plate and its misreads share one skeleton."""
SKELETON: dict[str, str] = {c: group[0] for group in CLASSES for c in group}
"""Character -> its class's first character (characters in no class stand for themselves)."""
SKELETON_KEY = ",".join(CLASSES)
"""Names the skeleton: a search index built with another one must be built again."""

_SEPARATORS = re.compile(r"[\s\-.·]")
_NOT_PLATE = re.compile(r"[^A-Z0-9]")
_PATTERN_CHARS = re.compile(r"^[A-Z0-9?*]+$")


def lookalike(a: str, b: str) -> bool:
    """Whether readers mistake ``a`` for ``b`` (a pair of the table)."""
    return frozenset((a, b)) in _PAIRS


def check_twins(pairs: Iterable[str]) -> tuple[str, ...]:
    """``pairs`` if each is a twin pair of the table (either order), else ``PatternError``."""
    twins = {frozenset(t) for t in TWINS}
    out = tuple(pairs)
    for pair in out:
        if len(pair) != 2 or frozenset(pair) not in twins:
            raise PatternError(
                f"lookalikes are pairs of twins of the look-alike table ({', '.join(TWINS)}), "
                f"not {pair!r}"
            )
    return out


def skeleton(text: str) -> str:
    """``text`` with each character replaced by its look-alike class."""
    return "".join(SKELETON.get(c, c) for c in text)


def normalise(text: str) -> str:
    """Upper case, separators (spaces, dashes, dots) removed; other characters kept."""
    return _SEPARATORS.sub("", text.upper())


def clean(text: str) -> str:
    """The plate characters of ``text``: normalised, anything not A-Z or 0-9 dropped."""
    return _NOT_PLATE.sub("", text.upper())


def check_plate(text: str) -> str:
    """The normalised plate, or ``PatternError`` when it is not one."""
    plate = normalise(text)
    if not plate or len(plate) > MAX_PLATE or _NOT_PLATE.search(plate):
        raise PatternError(f"a plate is 1-{MAX_PLATE} characters A-Z or 0-9, got {text!r}")
    return plate


@dataclass(frozen=True)
class EditCosts:
    """The costs of the OCR-aware edit distance.

    ``lookalike``: substituting a character for its look-alike; ``edit``: any other
    substitution, insertion or deletion; ``clip``: each character missing at the start or
    end of one of the texts (a plate cut off by the crop). With ``clip == edit`` it is a
    plain weighted edit distance."""

    lookalike: float = 0.25
    edit: float = 1.0
    clip: float = 1.0

    def __post_init__(self) -> None:
        if not (0 < self.lookalike <= self.edit and 0 < self.clip <= self.edit):
            raise ValueError("costs must hold 0 < lookalike, clip <= edit")

    def distance(self, a: str, b: str) -> float:
        """Symmetric, 0 only for equal texts; rounded to 4 decimals."""
        return _distance(a, b, self.lookalike, self.edit, self.clip)


@lru_cache(maxsize=65536)
def _distance(a: str, b: str, lookalike_cost: float, edit: float, clip: float) -> float:
    n, m = len(a), len(b)
    prev = [clip * j for j in range(m + 1)]  # b's first j characters before a starts
    for i in range(1, n + 1):
        cur = [clip * i] + [0.0] * m
        ai = a[i - 1]
        last_row = i == n
        for j in range(1, m + 1):
            bj = b[j - 1]
            sub = 0.0 if ai == bj else lookalike_cost if lookalike(ai, bj) else edit
            cur[j] = min(
                prev[j] + (clip if j == m else edit),  # a's character after b has ended
                cur[j - 1] + (clip if last_row else edit),  # b's character after a has ended
                prev[j - 1] + sub,
            )
        prev = cur
    return round(prev[m], 4)


@dataclass(frozen=True)
class PlatePattern:
    """A validated wildcard pattern: ``text`` as typed (normalised), ``glob`` for the
    exact check (SQLite GLOB and Elasticsearch wildcard share ``?`` and ``*``), ``runs``
    its known runs as skeletons, ``^`` and ``$`` marking the plate's start and end."""

    text: str
    runs: tuple[str, ...]

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
        runs = tuple(run for run in re.split(r"[?*]", padded) if run)
        if not any(len(run) >= 3 for run in runs):
            raise PatternError(
                f"pattern {raw!r} is too vague: give at least three known characters in a "
                "row (or two at the start or end of the plate)"
            )
        return cls(text, runs)
