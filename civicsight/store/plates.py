"""The plate index every store backend shares: pure, no database here.

Plate text itself (normalisation, look-alikes, the distance, patterns) is
``civicsight.plate_text``. The stores index each distinct plate by the trigrams of its
*skeleton* (``^`` and ``$`` mark the start and end), which finds candidates for exact,
pattern and fuzzy search alike; the exact check comes after.

Search weighs a clipped plate like any missing character (``SEARCH_COSTS``: ``clip`` =
``edit`` = 1), unlike the join. Two reasons: the candidate filter (``fuzzy_grams``, and
Elasticsearch's fuzzy query on the skeleton) relies on every insertion or deletion
costing a whole edit, which a cheap clip would break (a distance of 1 could then drop
five characters); and an investigator who knows only part of a plate says so with a
pattern (``*12AB``).
"""

from __future__ import annotations

import math

from civicsight.plate_text import EditCosts, PatternError, PlatePattern, skeleton

SEARCH_COSTS = EditCosts(lookalike=0.25, edit=1.0, clip=1.0)
MAX_FUZZY = 2.0


def trigrams(padded: str) -> list[str]:
    return [padded[i : i + 3] for i in range(len(padded) - 2)]


def plate_grams(text: str) -> list[str]:
    """The distinct index grams of a stored plate (its padded skeleton's trigrams)."""
    return sorted(set(trigrams(f"^{skeleton(text)}$")))


def pattern_grams(pattern: PlatePattern) -> list[str]:
    """The grams every plate that ``pattern`` matches holds."""
    return sorted({g for run in pattern.runs for g in trigrams(run)})


def ocr_distance(a: str, b: str) -> float:
    """The search's OCR-aware distance (``SEARCH_COSTS``)."""
    return SEARCH_COSTS.distance(a, b)


def fuzzy_grams(plate: str, max_distance: float) -> tuple[list[str], int]:
    """The query's grams and how many of them a candidate within ``max_distance`` must
    share: each edit that costs 1 changes at most three trigrams; look-alikes none."""
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
