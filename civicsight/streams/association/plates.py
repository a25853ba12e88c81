"""Plate evidence: an edit distance that knows how OCR fails.

Readers confuse look-alike characters (0/O/D, 8/B, 1/I, 5/S, 2/Z, 6/G, 7/1) and clip a
plate at its start or end. Those errors are cheap here; a real difference (another
letter, a character in the middle missing) costs a full unit. Pure: strings in, numbers
out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

CONFUSABLE: tuple[str, ...] = ("0OD", "8B", "1I", "5S", "2Z", "6G", "71", "4A", "UV", "MN")
"""Groups of characters that OCR mistakes for each other."""

CONFUSION_COST = 0.25
"""Substituting a look-alike character."""
CLIP_COST = 0.2
"""Each character missing at the start or end of one read (a clipped plate)."""
EDIT_COST = 1.0
"""Any other substitution, insertion or deletion."""

_GROUP: dict[str, frozenset[str]] = {}
for _group in CONFUSABLE:
    for _ch in _group:
        _GROUP[_ch] = _GROUP.get(_ch, frozenset()) | frozenset(_group)


def substitution_cost(a: str, b: str) -> float:
    if a == b:
        return 0.0
    if b in _GROUP.get(a, frozenset()):
        return CONFUSION_COST
    return EDIT_COST


@lru_cache(maxsize=65536)
def plate_distance(a: str, b: str) -> float:
    """Weighted edit distance; characters missing at either end of one read cost
    ``CLIP_COST`` each (a clipped read is a contiguous part of the full plate)."""
    if not a or not b:
        return CLIP_COST * max(len(a), len(b))
    n, m = len(a), len(b)
    # free-ish end gaps: row/column 0 and the last row/column cost CLIP_COST per character
    prev = [CLIP_COST * j for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [CLIP_COST * i] + [0.0] * m
        ai = a[i - 1]
        last_row = i == n
        for j in range(1, m + 1):
            gap_a = CLIP_COST if j == m else EDIT_COST  # a's char unmatched at b's end
            gap_b = CLIP_COST if last_row else EDIT_COST  # b's char unmatched at a's end
            cur[j] = min(
                prev[j] + gap_a,
                cur[j - 1] + gap_b,
                prev[j - 1] + substitution_cost(ai, b[j - 1]),
            )
        prev = cur
    return prev[m]


@dataclass(frozen=True, slots=True)
class PlateVotes:
    """The reads of one tracklet or track: text -> summed confidence."""

    votes: tuple[tuple[str, float], ...] = ()

    def add(self, text: str, conf: float) -> PlateVotes:
        out = dict(self.votes)
        out[text] = out.get(text, 0.0) + conf
        return PlateVotes(tuple(sorted(out.items())))

    def merge(self, other: PlateVotes) -> PlateVotes:
        out = dict(self.votes)
        for text, conf in other.votes:
            out[text] = out.get(text, 0.0) + conf
        return PlateVotes(tuple(sorted(out.items())))

    @property
    def total(self) -> float:
        return sum(c for _, c in self.votes)

    def best(self) -> str | None:
        """The longest well-supported text (clipped reads are shorter)."""
        if not self.votes:
            return None
        return max(self.votes, key=lambda tc: (tc[1] * len(tc[0]), tc[0]))[0]


def plate_llr(a: PlateVotes, b: PlateVotes) -> float:
    """Log-likelihood ratio (same vehicle vs. another) from two sets of reads.

    Reads that agree up to OCR confusions and clipping are strong evidence for; plates
    that differ in real characters are strong evidence against. With no reads on one
    side there is no evidence (0). The strength grows with the confidence of the reads.
    """
    if not a.votes or not b.votes:
        return 0.0
    d = best_distance((t for t, _ in a.votes), (t for t, _ in b.votes))
    weight = min(1.0, 0.5 + 0.5 * min(a.total, b.total))
    if d <= 0.5:
        return 9.0 * weight
    if d <= 1.25:
        return 4.0 * weight
    if d <= 2.0 and d < FAR:
        return 0.0
    return -9.0 * weight


_CANON = {ch: min(group) for group in CONFUSABLE for ch in group}
FAR = 9.0
"""Distance reported for reads that share no two adjacent characters (up to look-alikes):
more than one real edit apart, so certainly different plates for ``plate_llr``."""


def _bigrams(text: str) -> frozenset[str]:
    canon = "".join(_CANON.get(ch, ch) for ch in text)
    return frozenset(canon[i : i + 2] for i in range(len(canon) - 1))


def quick_distance(a: str, b: str) -> float:
    """``plate_distance``, or ``FAR`` straight away for reads of 4+ characters that share
    no adjacent pair: one real edit or fewer always leaves such a pair in common."""
    if len(a) >= 4 and len(b) >= 4 and not (_bigrams(a) & _bigrams(b)):
        return FAR
    return plate_distance(a, b)


def best_distance(a: Iterable[str], b: Iterable[str]) -> float:
    bs: Sequence[str] = tuple(b)
    return min((quick_distance(x, y) for x in a for y in bs), default=float("inf"))
