"""Pure plate logic: crop geometry, CTC scoring and the choice of a text (plate text
itself: tests/unit/civicsight/test_plate_text.py)."""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np
import pytest

from civicsight.models.runtimes.plate_ocr import ALPHABET
from civicsight.services.plates.logic import (
    Choice,
    CropPlan,
    PlateInputError,
    PlateText,
    blue_band,
    candidates,
    char_confusions,
    choose,
    ctc_char_confidence,
    ctc_greedy,
    ctc_log_likelihoods,
    encode,
    expand_quad,
    group_boxes,
    order_corners,
    plate_lines,
    rectify,
    settled,
    trim_band,
    two_rows_to_line,
)
from civicsight.services.plates.patterns import RegionPatterns

K = 1 + len(ALPHABET)


def reading(
    text: str,
    peak: float = 0.95,
    alts: dict[int, tuple[str, float]] | None = None,
    peaks: dict[int, float] | None = None,
) -> np.ndarray:
    """A synthetic recogniser output: blank, char, blank, char, ..., blank; each character
    frame puts ``peak`` (or per position ``peaks``) on the character (or per position: a
    second choice and its share), the rest on the blank."""
    alts = alts or {}
    frames = [np.eye(K)[0]]
    for i, ch in enumerate(text):
        peak_i = (peaks or {}).get(i, peak)
        f = np.zeros(K)
        f[0] = 1 - peak_i
        k = 1 + ALPHABET.index(ch)
        if i in alts:
            other, share = alts[i]
            f[1 + ALPHABET.index(other)] = peak_i * share
            f[k] = peak_i * (1 - share)
        else:
            f[k] = peak_i
        frames += [f, np.eye(K)[0]]
    out = np.array(frames) + 1e-6
    return out / out.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- text


def test_encode_refuses_non_plate_characters() -> None:
    with pytest.raises(PlateInputError, match="outside A-Z 0-9"):
        encode("ab1")


@pytest.mark.parametrize(
    ("read", "truth", "pairs"),
    [
        ("RK857A1", "RK857AI", [("I", "1")]),
        ("RK0999AN", "RK099AN", [("", "9")]),
        ("RK99AN", "RK099AN", [("0", "")]),
        ("AB123", "AB123", []),
    ],
)
def test_char_confusions_align_reads_with_truth(
    read: str, truth: str, pairs: list[tuple[str, str]]
) -> None:
    """Guards against a confusion table that blames the wrong characters."""
    assert list(char_confusions(read, truth)) == pairs


# --------------------------------------------------------------------------- geometry

QUAD = np.array([[10, 20], [110, 20], [110, 40], [10, 40]], np.float32)  # tl, tr, br, bl


@pytest.mark.parametrize("order", list(itertools.permutations(range(4)))[::5])
def test_corners_are_ordered_whatever_order_they_come_in(order: tuple[int, ...]) -> None:
    """Guards against a mirrored or upside-down rectified plate."""
    np.testing.assert_array_equal(order_corners(QUAD[list(order)]), QUAD)


@pytest.mark.parametrize("degrees", [-30, -10, 0, 10, 30])
def test_corner_order_holds_for_turned_plates(degrees: float) -> None:
    """Guards against sorting by y alone, which swaps corners of tilted plates."""
    a = math.radians(degrees)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], np.float32)
    turned = (QUAD - QUAD.mean(axis=0)) @ rot.T
    np.testing.assert_allclose(order_corners(turned[[2, 0, 3, 1]]), turned, atol=1e-4)


def test_order_corners_needs_four_points() -> None:
    with pytest.raises(PlateInputError, match="4 finite corner points"):
        order_corners(QUAD[:3])


@pytest.mark.parametrize(
    ("mx", "my", "size"), [(0, 0, (100, 20)), (0.1, 0.5, (120, 40)), (0.02, -0.25, (104, 10))]
)
def test_expand_quad_grows_or_cuts_along_the_plate(
    mx: float, my: float, size: tuple[float, float]
) -> None:
    q = expand_quad(QUAD, mx, my)
    assert (q[1, 0] - q[0, 0], q[3, 1] - q[0, 1]) == pytest.approx(size)


def test_rectify_straightens_a_tilted_plate_and_upscales_small_ones() -> None:
    """Guards against reading a plate at an angle or at a few pixels high."""
    image = np.full((200, 300, 3), 255, np.uint8)
    quad = np.array([[50, 80], [150, 60], [154, 80], [54, 100]], np.float32)  # tilted
    cv2.fillPoly(image, [quad.astype(np.int32)], (0, 0, 0))
    flat = rectify(image, quad, min_height=48)
    assert flat.shape[0] >= 48 and flat.shape[1] > 3 * flat.shape[0]
    inner = flat[8:-8, 8:-8]
    assert inner.mean() < 40  # the plate fills the rectangle: dark all over
    with pytest.raises(PlateInputError, match="BGR image"):
        rectify(image[..., 0], quad)
    with pytest.raises(PlateInputError, match="too small"):
        rectify(image, np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32))


def test_two_rows_become_one_line() -> None:
    """Guards against reading only one row of a double-row plate."""
    plate = np.zeros((100, 200, 3), np.uint8)
    plate[:45] = 80  # upper row
    line = two_rows_to_line(plate)
    bottom_h = 100 - round(100 * 0.36)
    assert line.shape[0] == bottom_h
    assert line.shape[1] > 200  # upper row scaled and put on the left


def eu_plate(band: float, blue_plate: bool = False) -> np.ndarray:
    plate = np.full((48, 220, 3), 235, np.uint8)
    if blue_plate:
        plate[:] = (160, 60, 20)
    plate[:, : round(220 * band)] = (170, 60, 20)  # BGR blue
    cv2.putText(plate, "RK857AI", (35, 38), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (20, 20, 20), 3)
    return plate


@pytest.mark.parametrize(
    ("band", "blue_plate", "found"),
    [(0.1, False, True), (0.0, False, False), (0.1, True, False), (0.5, False, False)],
    ids=["eu-band", "no-band", "blue-plate", "half-blue"],
)
def test_blue_country_band_is_cut_only_when_it_is_a_band(
    band: float, blue_plate: bool, found: bool
) -> None:
    """Guards against the EU band's country code read as characters, and against cutting
    into a plate that is blue all over."""
    plate = eu_plate(band, blue_plate)
    width = blue_band(plate)
    assert (width > 0) == found
    if found:
        assert width == pytest.approx(22, abs=2)
        trimmed = trim_band(plate)
        assert trimmed is not None and trimmed.shape[1] < 200
    else:
        assert trim_band(plate) is None


def test_plate_lines_cut_every_view() -> None:
    """Guards against losing the views that voting needs (margins, boxes, two rows)."""
    image = np.full((200, 300, 3), 200, np.uint8)
    plan = CropPlan(margins=((0, 0), (0.02, 0.06), (0.02, -0.15)), box=True)
    single = plate_lines(image, [QUAD, QUAD + 1], (10, 20, 110, 40), False, plan)
    assert len(single) == 2 * 3 + 1
    double = plate_lines(image, [QUAD], (10, 20, 110, 40), True, plan)
    assert len(double) == 3 + 2 + 1  # two-row versions of the views that keep the rows
    assert all(line.shape[0] >= 8 for line in single + double)


# --------------------------------------------------------------------------- CTC


def test_greedy_decoding_merges_repeats_and_skips_blanks() -> None:
    r = reading("AAB")  # blanks between, so the two As stay two
    g = ctc_greedy(r)
    assert g.text == "AAB"
    assert g.peaks == pytest.approx((0.95, 0.95, 0.95), abs=1e-3)
    merged = np.vstack([r[1], r[1], r[3]])  # A A A (no blank): one A
    assert ctc_greedy(merged).text == "A"


def brute_force(probs: np.ndarray, text: str) -> float:
    """P(text) by summing every path through the symbols with non-zero probability."""
    symbols = [k for k in range(K) if probs[:, k].max() > 1e-3]
    total = 0.0
    for path in itertools.product(symbols, repeat=len(probs)):
        collapsed = [k for i, k in enumerate(path) if k and (i == 0 or path[i - 1] != k)]
        if "".join(ALPHABET[k - 1] for k in collapsed) == text:
            total += float(np.prod([probs[t, k] for t, k in enumerate(path)]))
    return total


def test_ctc_likelihood_equals_the_sum_over_all_paths() -> None:
    """Guards against a scoring bug that ranks candidate texts wrongly."""
    rng = np.random.default_rng(3)
    probs = np.zeros((5, K))
    probs[:, [0, 1 + ALPHABET.index("A"), 1 + ALPHABET.index("B")]] = rng.random((5, 3)) + 0.1
    probs /= probs.sum(axis=1, keepdims=True)
    texts = ["A", "AB", "AA", "BAB", "ABAB"]
    got = np.exp(ctc_log_likelihoods(probs, texts))
    want = [brute_force(probs, t) for t in texts]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_too_long_texts_are_impossible() -> None:
    r = reading("AB")[:3]  # 3 steps: "ABA" needs at least 3 without repeats; "AAA" needs 5
    ll = ctc_log_likelihoods(r, ["AB", "AAA"])
    assert np.isfinite(ll[0]) and ll[1] == -np.inf
    assert ctc_char_confidence(r, "AAA") is None


def test_char_confidence_follows_the_best_alignment() -> None:
    r = reading("RK857AI", alts={6: ("1", 0.4)})
    conf = ctc_char_confidence(r, "RK857AI")
    assert conf is not None and len(conf) == 7
    assert conf[:6] == pytest.approx((0.95,) * 6, abs=1e-3)
    assert conf[6] == pytest.approx(0.95 * 0.6, abs=1e-3)


def test_bad_probabilities_are_refused() -> None:
    with pytest.raises(PlateInputError, match="probabilities"):
        ctc_greedy(np.zeros((4, 10)))


# --------------------------------------------------------------------------- choice

SK = RegionPatterns.of(["LLNNNLL"])
CZ = RegionPatterns.of(["NLNNNNN"])
NONE = RegionPatterns.none()


@pytest.mark.parametrize(
    ("readings", "patterns", "text"),
    [
        # a letter position read as a digit: the pattern picks the lookalike
        ([reading("RK857A1", alts={6: ("I", 0.02)})], SK, "RK857AI"),
        ([reading("PP587A0")], SK, "PP587AO"),
        # without patterns the recogniser's own reading stands
        ([reading("RK857A1", alts={6: ("I", 0.02)})], NONE, "RK857A1"),
        # a sticker read as 8 between the groups of a Czech plate is dropped
        ([reading("1B189839", peaks={3: 0.8})], CZ, "1B19839"),
        # a plate that fits no pattern is not forced into one (no length matches)
        ([reading("GWAGEN")], SK, "GWAGEN"),
        # a clear non-lookalike letter is not turned into a digit to fit
        ([reading("RK857AX")], RegionPatterns.of(["LLNNNLN"]), "RK857AX"),
        # several crops vote: two agreeing readings beat one garbled one
        ([reading("AB123CD"), reading("AB123CD"), reading("A8I23C", peak=0.6)], NONE, "AB123CD"),
    ],
    ids=["1-to-I", "0-to-O", "no-patterns", "sticker", "vanity", "no-forcing", "vote"],
)
def test_choose_uses_patterns_lookalikes_and_all_crops(
    readings: list[np.ndarray], patterns: RegionPatterns, text: str
) -> None:
    """Guards against O/0 and I/1 errors, sticker characters, and forcing plates that do
    not fit a format into one."""
    chosen = choose(readings, patterns, Choice(pattern_bonus=8.0))
    assert chosen is not None
    assert chosen.text == text
    assert len(chosen.char_conf) == len(text)
    assert 0 < chosen.conf <= 1


def test_a_lookalike_chosen_by_pattern_keeps_a_usable_confidence() -> None:
    """Guards against dropping a correct pattern read because its raw probability (O
    where the recogniser said 0) is tiny."""
    chosen = choose([reading("PP587A0")], SK)
    assert chosen is not None and chosen.text == "PP587AO"
    assert chosen.conf > 0.5


def test_choose_with_nothing_read() -> None:
    assert choose([np.tile(np.eye(K)[0], (10, 1))], SK) is None


@pytest.mark.parametrize(
    "bad",
    [
        {"lookalike_share": 2.0},
        {"lookalikes": ("0OO",)},
        {"lookalikes": ("0a",)},
        {"lookalikes": ("0D",)},  # near look-alikes, not twins: a format must not trade them
        {"pattern_bonus": -1.0},
    ],
)
def test_bad_choice_options_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(PlateInputError):
        Choice(**bad)  # type: ignore[arg-type]


def test_candidates_include_doubled_and_dropped_characters() -> None:
    """Guards against never proposing CCLVN3 when CTC merged the two Cs."""
    g = ctc_greedy(reading("CLVN3"))
    out = candidates(g, NONE, max_edit_conf=1.0)
    assert {"CLVN3", "CCLVN3", "LVN3", "CLV3"} <= out


@pytest.mark.parametrize(
    ("text", "greedy", "ok"),
    [
        (PlateText("AB1", 0.95, (0.95,) * 3), ["AB1", "AB1", "A81"], True),
        (PlateText("AB1", 0.95, (0.95,) * 3), ["AB1", "A81", "A8I"], False),
        (PlateText("AB1", 0.6, (0.6,) * 3), ["AB1", "AB1"], False),
        (None, ["AB1"], False),
    ],
)
def test_settled(text: PlateText | None, greedy: list[str], ok: bool) -> None:
    """Guards against stopping at one detector's crops when they disagree."""
    assert settled(text, greedy, conf=0.9, agree=0.5) is ok


@pytest.mark.parametrize(
    ("boxes", "scores", "groups"),
    [
        ([(0, 0, 10, 10), (1, 1, 11, 11), (50, 50, 60, 60)], [0.5, 0.9, 0.7], [[1, 0], [2]]),
        ([], [], []),
    ],
)
def test_group_boxes(
    boxes: list[tuple[float, ...]], scores: list[float], groups: list[list[int]]
) -> None:
    """Guards against reading one plate twice (once per detector) as two plates."""
    assert group_boxes(boxes, scores, 0.4) == groups
