"""Pure plate-reading logic: geometry of plate crops, CTC decoding and scoring, and the
choice of one text among the readings of several crops of one plate.

Everything here takes and returns domain values (numpy images and probability
matrices, strings); no model runtime, clock or bus.

A reading is the recogniser's per-time-step probabilities over the CTC blank plus
``ALPHABET`` (see ``models.runtimes.plate_ocr``). One plate is read from several crops
(two detectors' corners, with and without margins, single- and double-row layouts).
Candidate texts are collected from all of them (greedy decodes; the same with one
character doubled or dropped; fitted to the region patterns of their length), and every
candidate is scored by its exact CTC likelihood under every reading. The best mean
log-likelihood, plus a bonus for texts that fit a region pattern, wins; lookalike
characters (0 and O, 1 and I, ...) share a little probability so that the pattern
decides between them where the recogniser cannot.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from civicsight.models.runtimes.plate_ocr import ALPHABET
from civicsight.plate_text import TWINS, PatternError, check_twins, clean
from civicsight.services.plates.patterns import RegionPatterns

BLANK = 0


class PlateInputError(ValueError):
    """An image, quadrilateral or reading that cannot be used."""


@dataclass(frozen=True)
class PlateText:
    """A chosen plate text with its confidence and one confidence per character."""

    text: str
    conf: float
    char_conf: tuple[float, ...]


# --------------------------------------------------------------------------- text


def encode(text: str) -> list[int]:
    """Label indices (1-based; 0 is the CTC blank) of a normalised plate text."""
    try:
        return [1 + ALPHABET.index(ch) for ch in text]
    except ValueError:
        raise PlateInputError(f"{text!r} holds characters outside A-Z 0-9") from None


# --------------------------------------------------------------------------- geometry


def order_corners(corners: np.ndarray) -> np.ndarray:
    """The four corners clockwise from the top-left one (the least x + y): top-left,
    top-right, bottom-right, bottom-left, for plates turned up to 45 degrees."""
    pts = np.asarray(corners, np.float32).reshape(-1, 2)
    if pts.shape != (4, 2) or not np.isfinite(pts).all():
        raise PlateInputError(f"expected 4 finite corner points, got {np.asarray(corners).shape}")
    centre = pts.mean(axis=0)
    clockwise = pts[np.argsort(np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0]))]
    first = int(np.argmin(clockwise.sum(axis=1)))
    return np.roll(clockwise, -first, axis=0)


def expand_quad(corners: np.ndarray, margin_x: float, margin_y: float) -> np.ndarray:
    """The quadrilateral grown by ``margin_x`` of its width on the left and on the right
    and ``margin_y`` of its height at the top and at the bottom, along its own axes."""
    tl, tr, br, bl = order_corners(corners)
    across = (tr - tl + br - bl) / 2
    down = (bl - tl + br - tr) / 2
    dx, dy = across * margin_x, down * margin_y
    return np.array([tl - dx - dy, tr + dx - dy, br + dx + dy, bl - dx + dy], np.float32)


def rectify(image: np.ndarray, quad: np.ndarray, min_height: int = 48) -> np.ndarray:
    """The plate inside ``quad`` warped to an upright rectangle of its own size, upscaled
    so that it is at least ``min_height`` pixels high (small plates read better)."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise PlateInputError(f"expected a BGR image (h, w, 3), got shape {image.shape}")
    tl, tr, br, bl = order_corners(quad)
    width = max(float(np.linalg.norm(tr - tl)), float(np.linalg.norm(br - bl)))
    height = max(float(np.linalg.norm(bl - tl)), float(np.linalg.norm(br - tr)))
    if width < 4 or height < 2:
        raise PlateInputError(f"plate quadrilateral too small ({width:.1f} x {height:.1f} px)")
    scale = max(1.0, min_height / height)
    out_w, out_h = max(8, round(width * scale)), max(8, round(height * scale))
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], np.float32)
    matrix = cv2.getPerspectiveTransform(np.array([tl, tr, br, bl], np.float32), dst)
    return cv2.warpPerspective(
        image, matrix, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )


def box_crop(
    image: np.ndarray, xyxy: Sequence[float], margin_x: float = 0.0, margin_y: float = 0.0
) -> np.ndarray:
    """The axis-aligned box (grown by the margins, clipped to the image)."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    mx, my = (x2 - x1) * margin_x, (y2 - y1) * margin_y
    h, w = image.shape[:2]
    a, b = max(0, math.floor(x1 - mx)), max(0, math.floor(y1 - my))
    c, d = min(w, math.ceil(x2 + mx)), min(h, math.ceil(y2 + my))
    if c - a < 4 or d - b < 2:
        raise PlateInputError(f"plate box {xyxy} is empty inside a {w}x{h} image")
    return image[b:d, a:c]


def two_rows_to_line(plate: np.ndarray, split: float = 0.42, overlap: float = 0.06) -> np.ndarray:
    """A double-row plate as one text line: its upper part (to ``split`` of the height)
    scaled to the lower part's height and put on its left."""
    h = plate.shape[0]
    if h < 8:
        raise PlateInputError(f"double-row plate only {h} px high")
    top = plate[: max(2, round(h * (split + overlap)))]
    bottom = plate[min(h - 2, round(h * (split - overlap))) :]
    bh = bottom.shape[0]
    scaled = cv2.resize(top, (max(4, round(top.shape[1] * bh / top.shape[0])), bh))
    return np.hstack([scaled, bottom])


def blue_band(plate: np.ndarray, max_share: float = 0.22) -> int:
    """Width in pixels of a blue country band at the left edge of an upright plate
    (EU plates carry one, with the country code in small letters), or 0 if none."""
    if plate.ndim != 3 or plate.shape[2] != 3:
        raise PlateInputError(f"expected a BGR image (h, w, 3), got shape {plate.shape}")
    h, w = plate.shape[:2]
    if w < 20 or h < 6:
        return 0
    hsv = cv2.cvtColor(plate[h // 5 : h - h // 5], cv2.COLOR_BGR2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    blue = ((hue >= 95) & (hue <= 130) & (sat >= 90) & (val >= 40)).mean(axis=0)
    limit = max(2, round(w * max_share))
    start = next((i for i in range(min(limit, max(2, round(w * 0.06)))) if blue[i] >= 0.4), None)
    if start is None:
        return 0
    end = start
    while end < limit and blue[end] >= 0.25:
        end += 1
    if end - start < max(2, round(0.035 * w)) or end >= limit:
        return 0
    if blue[end : end + max(2, w // 3)].mean() >= 0.15:  # a blue plate, not a band
        return 0
    return end


def trim_band(plate: np.ndarray) -> np.ndarray | None:
    """The plate without its blue country band, or None when it has none."""
    band = blue_band(plate)
    if not band:
        return None
    return plate[:, band + max(1, plate.shape[1] // 100) :]


# --------------------------------------------------------------------------- CTC


@dataclass(frozen=True)
class Greedy:
    """The best-path decoding of one reading: text, the peak probability of each character
    and, per character, the probabilities of all of ``ALPHABET`` at that peak."""

    text: str
    peaks: tuple[float, ...]
    dists: np.ndarray  # (len(text), len(ALPHABET)), rows sum to 1


def check_probs(probs: np.ndarray) -> np.ndarray:
    p = np.asarray(probs, np.float64)
    if p.ndim != 2 or p.shape[1] != 1 + len(ALPHABET):
        raise PlateInputError(f"expected (steps, {1 + len(ALPHABET)}) probabilities, got {p.shape}")
    return p


def ctc_greedy(probs: np.ndarray) -> Greedy:
    p = check_probs(probs)
    best = p.argmax(axis=1)
    chars: list[str] = []
    peaks: list[float] = []
    dists: list[np.ndarray] = []
    prev = BLANK
    for t, k in enumerate(best):
        if k != BLANK:
            if k != prev:
                chars.append(ALPHABET[k - 1])
                peaks.append(float(p[t, k]))
                dists.append(p[t, 1:])
            elif p[t, k] > peaks[-1]:
                peaks[-1], dists[-1] = float(p[t, k]), p[t, 1:]
        prev = k
    rows = np.array(dists).reshape(-1, len(ALPHABET))
    rows = rows / np.maximum(rows.sum(axis=1, keepdims=True), 1e-12)
    return Greedy("".join(chars), tuple(peaks), rows)


def ctc_log_likelihoods(probs: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """log P(text | reading) for each text, summed over all CTC alignments."""
    p = check_probs(probs)
    logp = np.log(np.maximum(p, 1e-30))
    steps = len(logp)
    n = len(texts)
    if n == 0:
        return np.zeros(0)
    lengths = np.array([len(t) for t in texts])
    longest = int(lengths.max())
    span = 2 * longest + 1
    ext = np.zeros((n, span), np.int64)
    for i, text in enumerate(texts):
        if text:
            ext[i, 1 : 2 * len(text) : 2] = encode(text)
    skip = np.zeros((n, span), bool)
    skip[:, 2:] = (ext[:, 2:] != BLANK) & (ext[:, 2:] != ext[:, :-2])
    alpha = np.full((n, span), -np.inf)
    if steps == 0:
        return np.where(lengths == 0, 0.0, -np.inf)
    alpha[:, 0] = logp[0, BLANK]
    has = lengths > 0
    alpha[has, 1] = logp[0, ext[has, 1]]
    neg = np.full((n, 1), -np.inf)
    for t in range(1, steps):
        stay = alpha
        step = np.hstack([neg, alpha[:, :-1]])
        jump = np.where(skip, np.hstack([neg, neg, alpha[:, :-2]]), -np.inf)
        alpha = np.logaddexp(np.logaddexp(stay, step), jump) + logp[t, ext]
    rows = np.arange(n)
    end = alpha[rows, 2 * lengths]
    last = np.where(has, alpha[rows, np.maximum(2 * lengths - 1, 0)], -np.inf)
    return np.asarray(np.logaddexp(end, last))


def ctc_char_confidence(probs: np.ndarray, text: str) -> tuple[float, ...] | None:
    """Per character of ``text``: its highest probability along the best (Viterbi)
    alignment with the reading; None when the reading is too short for the text."""
    p = check_probs(probs)
    if not text:
        return ()
    labels = encode(text)
    ext = [BLANK]
    for k in labels:
        ext += [k, BLANK]
    span, steps = len(ext), len(p)
    logp = np.log(np.maximum(p, 1e-30))
    score = np.full((steps, span), -np.inf)
    back = np.zeros((steps, span), np.int64)
    score[0, 0], score[0, 1] = logp[0, BLANK], logp[0, ext[1]]
    for t in range(1, steps):
        for s in range(span):
            best, arg = score[t - 1, s], s
            if s >= 1 and score[t - 1, s - 1] > best:
                best, arg = score[t - 1, s - 1], s - 1
            if s >= 2 and ext[s] != BLANK and ext[s] != ext[s - 2] and score[t - 1, s - 2] > best:
                best, arg = score[t - 1, s - 2], s - 2
            score[t, s] = best + logp[t, ext[s]]
            back[t, s] = arg
    s = span - 1 if score[-1, span - 1] >= score[-1, span - 2] else span - 2
    if not np.isfinite(score[-1, s]):
        return None
    conf = [0.0] * len(labels)
    for t in range(steps - 1, -1, -1):
        if ext[s] != BLANK:
            i = (s - 1) // 2
            conf[i] = max(conf[i], float(p[t, ext[s]]))
        s = back[t, s]
    return tuple(conf)


# --------------------------------------------------------------------------- choice


def candidates(
    greedy: Greedy,
    patterns: RegionPatterns,
    max_edit_conf: float,
    lookalikes: Sequence[str] = (),
) -> set[str]:
    """Texts worth scoring for one reading: its greedy text, that text with one character
    doubled (CTC merges a repeated letter without a gap) or one character dropped (one
    read with a peak below ``max_edit_conf``: a sticker or emblem read as a character),
    and the greedy and dropped texts fitted to every region pattern of their length."""
    base = greedy.text
    out = {base}
    edits: list[tuple[str, np.ndarray]] = [(base, greedy.dists)]
    for i, peak in enumerate(greedy.peaks):
        out.add(base[: i + 1] + base[i:])
        if peak < max_edit_conf:
            dropped = base[:i] + base[i + 1 :]
            out.add(dropped)
            edits.append((dropped, np.delete(greedy.dists, i, axis=0)))
    for text, dists in edits:
        out.update(patterns.fit(text, dists, lookalikes))
    out.discard("")
    return out


def greedy_weight(greedy: Greedy, power: float = 4.0) -> float:
    """How much a reading counts: the geometric mean of its character peaks, to a power
    (a garbled crop reads with low peaks)."""
    if not greedy.peaks:
        return 0.0
    return float(np.exp(power * np.mean(np.log(np.maximum(greedy.peaks, 1e-6)))))


def pool(probs: np.ndarray, lookalikes: Sequence[str], share: float) -> np.ndarray:
    """The reading with ``share`` of each lookalike's probability added to a character
    (lookalike pairs such as ``0O``, ``1I``): a glyph the recogniser may have named wrongly
    keeps some weight for its twin, while a clear reading still decides."""
    p = check_probs(probs)
    if not lookalikes or share <= 0:
        return p
    out = p.copy()
    for pair in _twins(lookalikes):
        a, b = (1 + ALPHABET.index(c) for c in pair)
        out[:, a] += share * p[:, b]
        out[:, b] += share * p[:, a]
    return out


def _twins(pairs: Sequence[str]) -> tuple[str, ...]:
    try:
        return check_twins(pairs)
    except PatternError as err:
        raise PlateInputError(str(err)) from None


@dataclass(frozen=True)
class Choice:
    """How ``choose`` weighs the evidence (natural-log units).

    ``pattern_bonus``: added to a text that fits a region pattern (a region may set its
    own), plus ``prior_weight`` times the log prior of that pattern. ``lookalikes`` (the
    twins of ``civicsight.plate_text``) and ``lookalike_share``: each character also gets
    this share of its twin's probability, so reading O where the recogniser said 0 costs
    little (about log 0.1), not everything. Near look-alikes (0 and D, 1 and 7) share
    nothing: the recogniser tells them apart on a readable crop, and letting the format
    trade them cost accuracy on ``alpr_eu`` (0.917 -> 0.907). ``reading_power``: a
    reading counts with its greedy confidence to this power, so garbled crops count
    less. ``max_edit_conf``: characters read with a peak below this may be dropped in
    candidates (1: any).
    """

    pattern_bonus: float = 8.0
    prior_weight: float = 1.0
    lookalikes: tuple[str, ...] = TWINS
    lookalike_share: float = 0.1
    reading_power: float = 4.0
    max_edit_conf: float = 1.0

    def __post_init__(self) -> None:
        if self.pattern_bonus < 0 or self.prior_weight < 0 or self.reading_power < 0:
            raise PlateInputError("pattern_bonus, prior_weight and reading_power must be >= 0")
        if not 0 <= self.lookalike_share <= 1:
            raise PlateInputError(f"lookalike_share must be in [0, 1], not {self.lookalike_share}")
        _twins(self.lookalikes)


def choose(
    readings: Sequence[np.ndarray],
    patterns: RegionPatterns,
    options: Choice | None = None,
) -> PlateText | None:
    """The most likely text over all readings of one plate, or None if nothing is read.

    Candidates come from every reading (see ``candidates``). Score = weighted mean over
    readings of log P(text | reading) with lookalikes sharing probability, plus the
    pattern bonus of the text (see ``Choice``). A reading weighs its greedy confidence
    to the power ``reading_power``.
    """
    o = options or Choice()
    greedy = [ctc_greedy(r) for r in readings]
    pool_: set[str] = set()
    for g in greedy:
        if g.text:
            pool_ |= candidates(g, patterns, o.max_edit_conf, o.lookalikes)
    if not pool_:
        return None
    texts = sorted(pool_)
    w = np.array([greedy_weight(g, o.reading_power) for g in greedy])
    shared = [pool(r, o.lookalikes, o.lookalike_share) for r in readings]
    score = np.zeros(len(texts))
    for q, wi in zip(shared, w, strict=True):
        if wi > 0:  # a reading too short for a text gives a large, finite penalty
            score += wi * np.maximum(ctc_log_likelihoods(q, texts), -1e4)
    score /= w.sum()
    score += np.array([patterns.bonus_of(t, o.pattern_bonus, o.prior_weight) for t in texts])
    text = texts[int(np.argmax(score))]
    return PlateText(text, *_confidence(shared, w, text))


def settled(text: PlateText | None, greedy_texts: Sequence[str], conf: float, agree: float) -> bool:
    """Whether a plate's reading needs no more crops: confident, and at least ``agree``
    of its crops read the chosen text on their own."""
    if text is None or text.conf < conf or not greedy_texts:
        return False
    return sum(t == text.text for t in greedy_texts) / len(greedy_texts) >= agree


def _confidence(
    readings: Sequence[np.ndarray], weights: np.ndarray, text: str
) -> tuple[float, tuple[float, ...]]:
    """Per character: the weighted mean over readings of its best-alignment probability.
    Overall: their geometric mean."""
    sums = np.zeros(len(text))
    total = 0.0
    for r, w in zip(readings, weights, strict=True):
        conf = ctc_char_confidence(r, text)
        if conf is not None and w > 0:
            sums += w * np.asarray(conf)
            total += w
    if total == 0:
        return 0.0, tuple(0.0 for _ in text)
    chars = np.clip(sums / total, 0.0, 1.0)
    overall = float(np.exp(np.mean(np.log(np.maximum(chars, 1e-6)))))
    return round(overall, 4), tuple(round(float(c), 4) for c in chars)


def char_confusions(read: str, truth: str) -> Iterable[tuple[str, str]]:
    """(true, read) character pairs where an equally long reading differs; for unequal
    lengths, the aligned differences from an edit-distance alignment ('' = missing)."""
    a, b = clean(truth), clean(read)
    n, m = len(a), len(b)
    dist = np.zeros((n + 1, m + 1), np.int64)
    dist[:, 0] = np.arange(n + 1)
    dist[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            dist[i, j] = min(
                dist[i - 1, j] + 1, dist[i, j - 1] + 1, dist[i - 1, j - 1] + (a[i - 1] != b[j - 1])
            )
    pairs: list[tuple[str, str]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and dist[i, j] == dist[i - 1, j - 1] + (a[i - 1] != b[j - 1]):
            if a[i - 1] != b[j - 1]:
                pairs.append((a[i - 1], b[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and dist[i, j] == dist[i - 1, j] + 1:
            pairs.append((a[i - 1], ""))
            i -= 1
        else:
            pairs.append(("", b[j - 1]))
            j -= 1
    return reversed(pairs)


# --------------------------------------------------------------------------- plates


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def group_boxes(
    boxes: Sequence[Sequence[float]], scores: Sequence[float], min_iou: float
) -> list[list[int]]:
    """Indices of boxes that show the same plate (overlap over ``min_iou``), best first;
    each group is led by its best-scoring box."""
    order = sorted(range(len(boxes)), key=lambda i: -scores[i])
    groups: list[list[int]] = []
    for i in order:
        for g in groups:
            if iou(boxes[g[0]], boxes[i]) >= min_iou:
                g.append(i)
                break
        else:
            groups.append([i])
    return groups


@dataclass(frozen=True)
class CropPlan:
    """Which text lines to cut from one plate: margins (x, y; shares of the plate's width
    and height, negative to cut in) around each detector's corners, whether to add the
    axis-aligned box, and the least line height. The default reads the plate as found,
    with a little room around it, and with the top and bottom cut off (US plates carry
    the state's name above the characters and a slogan below)."""

    margins: tuple[tuple[float, float], ...] = ((0.0, 0.0), (0.02, 0.06), (0.02, -0.15))
    box: bool = True
    min_height: int = 48


def _without_band(line: np.ndarray) -> np.ndarray:
    trimmed = trim_band(line)
    return line if trimmed is None else trimmed


def plate_lines(
    image: np.ndarray,
    quads: Sequence[np.ndarray],
    xyxy: Sequence[float],
    double_row: bool,
    plan: CropPlan,
) -> list[np.ndarray]:
    """Text-line images of one plate seen by one or more detectors (``quads``: their
    corner points; ``xyxy``: the best box), each without a blue EU country band. A plate
    the detector calls double-row is read both as it is and with its two rows side by
    side, because the detector also calls single-row plates with a large header (US
    state names) double-row."""
    lines: list[np.ndarray] = []
    for quad in quads:
        for mx, my in plan.margins:
            try:
                flat = rectify(image, expand_quad(quad, mx, my), plan.min_height)
            except PlateInputError:
                continue
            lines.append(_without_band(flat))
            if double_row and my >= 0:
                lines.append(two_rows_to_line(flat))
    if plan.box:
        try:
            crop = box_crop(image, xyxy)
        except PlateInputError:
            return lines
        if crop.shape[0] < plan.min_height:
            s = plan.min_height / crop.shape[0]
            size = (max(4, round(crop.shape[1] * s)), plan.min_height)
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC)
        lines.append(_without_band(crop))
    return lines
