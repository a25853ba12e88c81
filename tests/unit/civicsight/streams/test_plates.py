"""Plate evidence: OCR look-alikes and clipped reads are cheap, real differences are not."""

from __future__ import annotations

import pytest

from civicsight.streams.association.plates import (
    PlateVotes,
    plate_distance,
    plate_llr,
    quick_distance,
)


@pytest.mark.parametrize(
    ("a", "b", "most"),
    [
        ("AB123CD", "AB123CD", 0.0),
        ("DV084YR", "0V084YR", 0.25),  # D read as 0
        ("OC076TE", "0C076TE", 0.25),  # O read as 0
        ("BP711BH", "BP7118H", 0.25),  # B read as 8
        ("BP711BH", "BP71IBH", 0.25),  # 1 read as I
        ("TO135EE", "135EE", 0.4),  # clipped at the start
        ("DY185XM", "DY185", 0.4),  # clipped at the end
        ("EZ106EJ", "EZ1O6E", 0.45),  # look-alike and clipped
    ],
)
def test_ocr_confusions_and_clipping_are_cheap(a: str, b: str, most: float) -> None:
    """Guards: the same vehicle's plate split into two tracks by a classic OCR error."""
    assert plate_distance(a, b) <= most + 1e-9
    assert plate_distance(b, a) == pytest.approx(plate_distance(a, b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("AB123CD", "AB124CD"),  # one real character
        ("AB123CD", "AB13CD"),  # a character missing in the middle, not clipped
        ("AB123CD", "XY987ZW"),
        ("EK459TQ", "EK459T0"),  # Q and 0 are no listed look-alikes
    ],
)
def test_real_differences_cost_a_full_edit(a: str, b: str) -> None:
    """Guards: two different cars joined because their plates differ by one real char."""
    assert plate_distance(a, b) >= 1.0


@pytest.mark.parametrize(
    ("a", "b"), [("AB123CD", "XY987ZW"), ("QWERTY", "ZXCVBN"), ("AB123CD", "AB123CD")]
)
def test_quick_distance_only_skips_what_is_far(a: str, b: str) -> None:
    """Guards: the shortcut hiding a near match."""
    full = plate_distance(a, b)
    quick = quick_distance(a, b)
    assert quick == full or (quick > 2.0 and full > 1.25)


@pytest.mark.parametrize(
    ("a", "b", "sign"),
    [
        ((("AB123CD", 0.9),), (("A8123CD", 0.8),), 1),
        ((("AB123CD", 0.9),), (("B123CD", 0.6),), 1),
        ((("AB123CD", 0.9),), (("XY987ZW", 0.9),), -1),
        ((("AB123CD", 0.9),), (), 0),
        ((), (), 0),
    ],
)
def test_plate_llr_sign(
    a: tuple[tuple[str, float], ...], b: tuple[tuple[str, float], ...], sign: int
) -> None:
    """Guards: agreeing reads not helping, or different plates not vetoing a link."""
    va = vb = PlateVotes()
    for text, conf in a:
        va = va.add(text, conf)
    for text, conf in b:
        vb = vb.add(text, conf)
    llr = plate_llr(va, vb)
    assert (llr > 0) - (llr < 0) == sign


def test_votes_prefer_the_full_read() -> None:
    votes = PlateVotes().add("DY185", 0.9).add("DY185XM", 0.7).add("DY185XM", 0.6)
    assert votes.best() == "DY185XM"
    assert votes.total == pytest.approx(2.2)
