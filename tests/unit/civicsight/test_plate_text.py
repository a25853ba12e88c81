"""Plate text, the one suite: the look-alike table and what is derived from it,
normalisation, the OCR-aware distance under the search's and the join's costs, and
wildcard patterns."""

from __future__ import annotations

import itertools

import pytest

from civicsight.plate_text import (
    CLASSES,
    LOOKALIKES,
    PLATE_CHARS,
    TWINS,
    EditCosts,
    PatternError,
    PlatePattern,
    check_plate,
    check_twins,
    clean,
    lookalike,
    normalise,
    skeleton,
)
from civicsight.store.plates import SEARCH_COSTS
from civicsight.streams.association.plates import JOIN_COSTS

# ---- the table -------------------------------------------------------------------------


def test_classes_are_a_partition_that_holds_every_pair() -> None:
    """Guards a table edit that lets a look-alike change a skeleton: the search index
    (trigrams of skeletons) would then miss plates within the fuzzy distance."""
    chars = "".join(CLASSES)
    assert len(chars) == len(set(chars)) and set(chars) <= set(PLATE_CHARS)
    for pair, _kind in LOOKALIKES:
        assert any(set(pair) <= set(group) for group in CLASSES), pair


@pytest.mark.parametrize(
    ("a", "b", "alike"),
    [
        ("0", "O", True),
        ("O", "0", True),  # either order
        ("0", "D", True),
        ("0", "Q", True),
        ("D", "Q", True),
        ("1", "I", True),
        ("1", "7", True),
        ("8", "B", True),
        ("5", "S", True),
        ("2", "Z", True),
        ("6", "G", True),
        ("7", "I", False),  # one class (through 1), but no pair: a real difference
        ("4", "A", False),
        ("U", "V", False),
        ("A", "A", False),  # the same character is no misread
    ],
)
def test_lookalike(a: str, b: str, alike: bool) -> None:
    """Guards search and the join reading different tables (the bug this table ended)."""
    assert lookalike(a, b) is alike


def test_twins_are_the_letter_digit_pairs_a_format_decides() -> None:
    """Guards the plates service letting a region format trade near look-alikes (0 and
    D): on alpr_eu that turned a clear ZA834CO into ZA834CD (accuracy 0.917 -> 0.907)."""
    assert sorted(TWINS) == sorted(["0O", "1I", "2Z", "5S", "6G", "8B"])


@pytest.mark.parametrize(
    ("pairs", "ok"),
    [
        (TWINS, True),
        (("O0", "I1"), True),  # either order, fewer
        ((), True),
        (("0D",), False),  # near, not twins
        (("0OO",), False),
        (("4A",), False),  # not in the table
    ],
)
def test_check_twins(pairs: tuple[str, ...], ok: bool) -> None:
    """Guards a regions file or reader option adding look-alikes the table lacks."""
    if ok:
        assert check_twins(pairs) == pairs
    else:
        with pytest.raises(PatternError, match="twins"):
            check_twins(pairs)


@pytest.mark.parametrize(
    ("text", "skel"),
    [
        ("AB123CD", "A8123C0"),
        ("A8I23C0", "A8123C0"),  # its misreads share the skeleton
        ("AB723CD", "A8123C0"),  # 7 joins 1's class
        ("OQD0", "0000"),
        ("XYZ", "XY2"),
    ],
)
def test_skeleton(text: str, skel: str) -> None:
    assert skeleton(text) == skel


# ---- normalisation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised", "cleaned", "plate"),
    [
        ("rk-857 ai", "RK857AI", "RK857AI", "RK857AI"),
        ("BA·302·OZ", "BA302OZ", "BA302OZ", "BA302OZ"),
        ("  m5 xsx ", "M5XSX", "M5XSX", "M5XSX"),
        ("zg.1234-ab", "ZG1234AB", "ZG1234AB", "ZG1234AB"),
        ("ÄB-1", "ÄB1", "B1", None),  # a reader's Ä is dropped; a search for it refused
        ("AB_12", "AB_12", "AB12", None),
        ("A" * 13, "A" * 13, "A" * 13, None),
        ("", "", "", None),
    ],
)
def test_normalise_clean_and_check(
    raw: str, normalised: str, cleaned: str, plate: str | None
) -> None:
    """Guards separators or case making equal plates differ, and a search silently
    dropping a character the searcher typed."""
    assert normalise(raw) == normalised
    assert clean(raw) == cleaned
    if plate is None:
        with pytest.raises(PatternError, match="1-12 characters"):
            check_plate(raw)
    else:
        assert check_plate(raw) == plate


# ---- the distance ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "search", "join"),
    [
        ("AB123CD", "AB123CD", 0.0, 0.0),
        ("AB123CD", "A8123CD", 0.25, 0.25),  # B/8: a usual misread costs a quarter
        ("AB123CD", "A8I23C0", 0.75, 0.75),  # three look-alikes
        ("DV084YR", "0V084YR", 0.25, 0.25),  # D read as 0
        ("AB123CD", "AB723CD", 0.25, 0.25),  # 1/7: search once called it a real difference
        ("EK459TQ", "EK459T0", 0.25, 0.25),  # Q/0: the join once called it a real difference
        ("AB173CD", "AB7I3CD", 1.25, 1.25),  # 1/7 and 7/I: alike only through 1
        ("AB123CD", "AB124CD", 1.0, 1.0),  # one real character
        ("AB123CD", "AB13CD", 1.0, 1.0),  # missing in the middle: not clipped
        ("TO135EE", "135EE", 2.0, 0.4),  # clipped at the start: cheap for the join only
        ("DY185XM", "DY185", 2.0, 0.4),  # clipped at the end
        ("EZ106EJ", "EZ1O6E", 1.25, 0.45),  # a look-alike and clipped
        ("AB123CD", "BA123CD", 2.0, 1.2),  # a swap: two edits, or a clip and one edit
        ("", "ABC", 3.0, 0.6),
        ("AB123CD", "XY987ZW", 6.75, 2.8),  # all different (the join may clip both whole)
    ],
)
def test_distance_under_both_cost_models(a: str, b: str, search: float, join: float) -> None:
    """Guards a distance that treats misreads like real differences (or the reverse),
    and the cost models drifting apart where they must agree (everything but clips)."""
    assert SEARCH_COSTS.distance(a, b) == search == SEARCH_COSTS.distance(b, a)
    assert JOIN_COSTS.distance(a, b) == pytest.approx(join)
    assert JOIN_COSTS.distance(b, a) == JOIN_COSTS.distance(a, b)


def test_search_and_the_join_agree_on_every_misread() -> None:
    """Guards the issue's bug: search and the join disagreeing on whether a substitution
    is a misread (0/Q, 1/7) because each kept its own table."""
    for x, y in itertools.product(PLATE_CHARS, repeat=2):
        a, b = f"AB{x}CD", f"AB{y}CD"
        assert SEARCH_COSTS.distance(a, b) == JOIN_COSTS.distance(a, b), (x, y)


@pytest.mark.parametrize(
    "costs",
    [{"lookalike": 0.0}, {"lookalike": 2.0}, {"clip": 0.0}, {"clip": 1.5}],
)
def test_bad_costs_are_refused(costs: dict[str, float]) -> None:
    """Guards a cost model where a misread costs nothing or more than a real edit."""
    with pytest.raises(ValueError, match="costs"):
        EditCosts(**costs)


# ---- patterns --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "plate", "hit"),
    [
        ("AB?12*", "ABX12QQ", True),
        ("AB?12*", "ABX12", True),
        ("AB?12*", "XABX12", False),  # anchored at the start
        ("*12Q", "ABC12Q", True),
        ("*12Q", "ABC12QQ", False),  # anchored at the end
        ("a b?12*", "ABX12", True),  # typed with spaces and lower case
        ("AB-12*", "AB12X", True),
    ],
)
def test_pattern_matches(pattern: str, plate: str, hit: bool) -> None:
    """Guards a pattern that misses plates it names or matches plates it does not."""
    assert PlatePattern.parse(pattern).matches(plate) is hit


@pytest.mark.parametrize(
    ("pattern", "runs"),
    [
        ("AB?12*", ("^A8", "12")),
        ("*12Q", ("120$",)),
        ("*7ABC*", ("1A8C",)),
    ],
)
def test_pattern_runs_are_anchored_skeletons(pattern: str, runs: tuple[str, ...]) -> None:
    """Guards runs that the index cannot find (raw text where it keeps skeletons)."""
    assert PlatePattern.parse(pattern).runs == runs


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("*1*", "too vague"),
        ("?B?", "too vague"),
        ("*AB*", "too vague"),
        ("AB%12", "A-Z, 0-9"),
        ("A" * 13, "cannot match"),
        ("", "A-Z, 0-9"),
    ],
)
def test_bad_patterns_say_why(pattern: str, why: str) -> None:
    """Guards a pattern that scans every plate, or an error that does not say what to fix."""
    with pytest.raises(PatternError, match=why):
        PlatePattern.parse(pattern)
