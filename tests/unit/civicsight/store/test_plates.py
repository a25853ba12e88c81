"""Plate search logic: OCR-aware distance, patterns, the grams that find candidates."""

from __future__ import annotations

import pytest

from civicsight.store.plates import (
    PatternError,
    PlatePattern,
    fuzzy_grams,
    ocr_distance,
    plate_grams,
)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("AB123CD", "AB123CD", 0.0),
        ("AB123CD", "A8123CD", 0.25),  # B/8: a usual misread costs a quarter
        ("AB123CD", "A8I23C0", 0.75),  # three confusions
        ("AB123CD", "AB723CD", 1.0),  # 1/7 is a real difference
        ("AB123CD", "AB12CD", 1.0),  # a lost character
        ("AB123CD", "BA123CD", 2.0),  # a swap is two edits
        ("", "ABC", 3.0),
    ],
)
def test_ocr_distance(a: str, b: str, expected: float) -> None:
    """Guards a distance that treats misreads like real differences (or the reverse)."""
    assert ocr_distance(a, b) == expected == ocr_distance(b, a)


@pytest.mark.parametrize(
    ("pattern", "plate", "hit"),
    [
        ("AB?12*", "ABX12QQ", True),
        ("AB?12*", "ABX12", True),
        ("AB?12*", "XABX12", False),  # anchored at the start
        ("*12Q", "ABC12Q", True),
        ("*12Q", "ABC12QQ", False),  # anchored at the end
        ("a b?12*", "ABX12", True),  # typed with spaces and lower case
    ],
)
def test_pattern_matches(pattern: str, plate: str, hit: bool) -> None:
    parsed = PlatePattern.parse(pattern)
    assert parsed.matches(plate) is hit
    if hit:  # every match holds every gram the index is asked for
        assert set(parsed.grams) <= set(plate_grams(plate))


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("*1*", "too vague"),
        ("?B?", "too vague"),
        ("AB%12", "A-Z, 0-9"),
        ("A" * 13, "cannot match"),
        ("", "A-Z, 0-9"),
    ],
)
def test_bad_patterns_say_why(pattern: str, why: str) -> None:
    with pytest.raises(PatternError, match=why):
        PlatePattern.parse(pattern)


@pytest.mark.parametrize(("plate", "distance", "need"), [("AB123CD", 1.0, 4), ("AB123CD", 0.5, 7)])
def test_fuzzy_needs_enough_shared_grams(plate: str, distance: float, need: int) -> None:
    grams, got = fuzzy_grams(plate, distance)
    assert (len(grams), got) == (7, need)
