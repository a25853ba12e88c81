"""Plate evidence: reads that agree up to look-alikes and clipping link tracklets, different
plates veto a link (the distance itself: tests/unit/civicsight/test_plate_text.py)."""

from __future__ import annotations

import pytest

from civicsight.streams.association.plates import (
    PlateVotes,
    plate_distance,
    plate_llr,
    quick_distance,
)


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
        ((("EK459TQ", 0.9),), (("EK459T0", 0.9),), 1),  # Q/0: a misread, as in search
        ((("AB123CD", 0.9),), (("AB723CD", 0.9),), 1),  # 1/7: a misread, as in search
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
