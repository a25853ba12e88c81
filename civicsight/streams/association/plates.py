"""Plate evidence: reads of two tracklets compared with an edit distance that knows how
OCR fails.

What a misread is (the look-alike table) comes from ``civicsight.plate_text``, shared
with the plates service and the store's search. The join's own cost model is
``JOIN_COSTS``: a look-alike costs a quarter, like in search, but a character missing
at the start or end of one read costs only ``CLIP_COST``. Cameras see a vehicle at
different angles and distances, so one read is often cut off by the crop while another
camera read the whole plate: clipped reads are evidence for the same vehicle here,
whereas search counts them as full edits (see ``civicsight.store.plates``). A real
difference (another letter, a character missing in the middle) costs a full unit. Pure:
strings in, numbers out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from civicsight.plate_text import EditCosts, skeleton

CONFUSION_COST = 0.25
"""Substituting a look-alike character."""
CLIP_COST = 0.2
"""Each character missing at the start or end of one read (a clipped plate)."""
EDIT_COST = 1.0
"""Any other substitution, insertion or deletion."""
JOIN_COSTS = EditCosts(lookalike=CONFUSION_COST, edit=EDIT_COST, clip=CLIP_COST)


def plate_distance(a: str, b: str) -> float:
    """Weighted edit distance (``JOIN_COSTS``); characters missing at either end of one
    read cost ``CLIP_COST`` each (a clipped read is a contiguous part of the full plate)."""
    return JOIN_COSTS.distance(a, b)


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


FAR = 9.0
"""Distance reported for reads that share no two adjacent characters (up to look-alikes):
more than one real edit apart, so certainly different plates for ``plate_llr``."""


def _bigrams(text: str) -> frozenset[str]:
    canon = skeleton(text)
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
