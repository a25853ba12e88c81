"""The plate index the stores share: the grams that find candidates for patterns and
fuzzy search (plate text itself: tests/unit/civicsight/test_plate_text.py)."""

from __future__ import annotations

import pytest

from civicsight.plate_text import PatternError, PlatePattern
from civicsight.store.plates import SEARCH_COSTS, fuzzy_grams, pattern_grams, plate_grams


@pytest.mark.parametrize(
    ("pattern", "plate"),
    [
        ("AB?12*", "ABX12QQ"),
        ("AB?12*", "ABX12"),
        ("*12Q", "ABC12Q"),
        ("a b?12*", "ABX12"),
        ("*723*", "AB123CD"),  # a look-alike of the pattern: found, then checked exactly
    ],
)
def test_a_match_holds_every_gram_the_index_is_asked_for(pattern: str, plate: str) -> None:
    """Guards a pattern search that misses a plate because the index was asked for a
    gram the plate's skeleton lacks."""
    assert set(pattern_grams(PlatePattern.parse(pattern))) <= set(plate_grams(plate))


@pytest.mark.parametrize(
    ("query", "plate", "distance"),
    [
        ("AB123CD", "A8I23C0", 0.75),
        ("AB123CD", "AB723CD", 0.5),
        ("AB123CD", "AB124CD", 1.0),
        ("AB123CD", "XB124CD", 2.0),
        ("AB123CD", "AB12CD", 1.0),
        ("AB123CD", "AB1234CD", 1.0),
    ],
)
def test_fuzzy_grams_never_drop_a_plate_within_the_distance(
    query: str, plate: str, distance: float
) -> None:
    """Guards fuzzy candidates that miss a plate the exact distance would accept."""
    assert SEARCH_COSTS.distance(query, plate) <= distance
    grams, need = fuzzy_grams(query, distance)
    assert len(set(grams) & set(plate_grams(plate))) >= need


@pytest.mark.parametrize(("plate", "distance", "need"), [("AB123CD", 1.0, 4), ("AB123CD", 0.5, 7)])
def test_fuzzy_needs_enough_shared_grams(plate: str, distance: float, need: int) -> None:
    grams, got = fuzzy_grams(plate, distance)
    assert (len(grams), got) == (7, need)


@pytest.mark.parametrize(("plate", "distance"), [("AB1", 1.0), ("AB123CD", 3.0), ("AB", 0.0)])
def test_fuzzy_refuses_what_it_cannot_find(plate: str, distance: float) -> None:
    with pytest.raises(PatternError):
        fuzzy_grams(plate, distance)
