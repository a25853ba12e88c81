"""Region plate formats: which character class each position of a plate holds.

A pattern is a string of classes, each optionally repeated: ``L`` a letter, ``N`` a
digit, ``*`` either; ``L{2}`` two letters, ``N{1,4}`` one to four digits. ``LLNNNLL``
is the usual Croatian or Slovak plate. Patterns choose between twins (a letter and a
digit drawn alike: O or 0, I or 1, B or 8, ...; the twins of the look-alike table in
``civicsight.plate_text``) by position; they never invent a text on their own.

The formats live in a YAML file (``config/plates/regions.yaml``): regions by code, each
with a name and its patterns, and named groups of regions. A deployment picks the
regions (or groups) that its cameras see.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from civicsight.config_files import load_yaml_model
from civicsight.models.runtimes.plate_ocr import ALPHABET
from civicsight.plate_text import DIGITS, LETTERS, MAX_PLATE, TWINS, PatternError, check_twins

CLASSES = {"L": LETTERS, "N": DIGITS, "*": ALPHABET}
_TOKEN = re.compile(r"([LN*])(?:\{(\d+)(?:,(\d+))?\})?")
MAX_TEMPLATES = 512


def expand(pattern: str) -> list[str]:
    """All fixed-length templates (strings of L, N, *) that ``pattern`` stands for."""
    pos = 0
    choices: list[list[str]] = []
    while pos < len(pattern):
        m = _TOKEN.match(pattern, pos)
        if m is None:
            raise PatternError(
                f"pattern {pattern!r}: unexpected {pattern[pos]!r} at {pos} "
                "(use L letter, N digit, * either, optionally {n} or {m,n})"
            )
        cls, lo, hi = m.group(1), m.group(2), m.group(3)
        low = int(lo) if lo else 1
        high = int(hi) if hi else low
        if not 1 <= low <= high <= MAX_PLATE:
            raise PatternError(f"pattern {pattern!r}: bad repetition {m.group(0)!r}")
        choices.append([cls * n for n in range(low, high + 1)])
        pos = m.end()
    if not choices:
        raise PatternError("empty plate pattern")
    out = sorted({"".join(parts) for parts in itertools.product(*choices)})
    if any(len(t) > MAX_PLATE for t in out):
        raise PatternError(f"pattern {pattern!r} allows plates over {MAX_PLATE} characters")
    if len(out) > MAX_TEMPLATES:
        raise PatternError(f"pattern {pattern!r} expands to over {MAX_TEMPLATES} templates")
    return out


class Region(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, description="human-readable region name")
    patterns: tuple[str, ...] = Field(min_length=1, description="plate patterns of the region")
    weight: float = Field(
        1.0, gt=0, description="how common this region's plates are among those seen"
    )
    bonus: float | None = Field(
        None,
        ge=0,
        le=20,
        description="score bonus (natural log) of a text in this region's formats; "
        "lower where personalised plates are common (default: the reader's)",
    )

    @field_validator("patterns")
    @classmethod
    def _valid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for p in value:
            expand(p)
        return value


class RegionFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    regions: dict[str, Region] = Field(min_length=1, description="regions by code")
    groups: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="named lists of region codes"
    )
    lookalikes: tuple[str, ...] = Field(
        TWINS,
        description="the twins (civicsight.plate_text) chosen between by position; a site "
        "may list fewer, never others (default: all of them)",
    )

    @field_validator("lookalikes")
    @classmethod
    def _pairs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return check_twins(value)
        except PatternError as err:
            raise ValueError(str(err)) from None

    def select(self, names: Iterable[str]) -> RegionPatterns:
        """The patterns of the named regions and groups (``all``: every region)."""
        codes: list[str] = []
        for raw in names:
            name = raw.strip().lower()
            if not name:
                continue
            if name == "all":
                codes += list(self.regions)
            elif name in self.groups:
                codes += list(self.groups[name])
            elif name in self.regions:
                codes.append(name)
            else:
                known = ", ".join(["all", *self.groups, *self.regions])
                raise PatternError(f"unknown plate region {name!r}; known: {known}")
        missing = [c for c in codes if c not in self.regions]
        if missing:
            raise PatternError(f"groups name unknown regions: {', '.join(sorted(set(missing)))}")
        chosen = list(dict.fromkeys(codes))
        return RegionPatterns(
            (
                self.regions[c].weight,
                self.regions[c].bonus,
                [t for p in self.regions[c].patterns for t in expand(p)],
            )
            for c in chosen
        )


def load_regions(path: Path) -> RegionFile:
    return load_yaml_model(path, RegionFile, PatternError)


class RegionPatterns:
    """Fixed-length templates with a prior and a bonus each, for matching, scoring and
    fitting texts.

    A region's weight is shared evenly among its templates, and a template's prior is
    the sum over the regions that use it, scaled so the likeliest template has 1. So a
    format that many selected regions use (LLNNNLL in much of Europe) beats one only a
    broad region allows (LLNNNNL, one of Austria's many), and a single region gives all
    of its templates the same prior. A region may set its own bonus (how strictly its
    plates keep to its formats); templates of regions without one use the reader's.
    """

    def __init__(self, regions: Iterable[tuple[float, float | None, Sequence[str]]]) -> None:
        prior: dict[str, float] = {}
        bonus: dict[str, float | None] = {}
        for weight, region_bonus, templates in regions:
            unique = sorted(set(templates))
            if weight <= 0 or not unique:
                continue
            for t in unique:
                if not t or set(t) - set(CLASSES):
                    raise PatternError(f"template {t!r}: only L, N and * are allowed")
                prior[t] = prior.get(t, 0.0) + weight / len(unique)
                old = bonus.get(t)
                bonus[t] = region_bonus if old is None else max(old, region_bonus or old)
        top = max(prior.values(), default=1.0)
        self.prior = {t: p / top for t, p in prior.items()}
        self.bonus = bonus
        by_len: dict[int, list[str]] = {}
        for t in sorted(self.prior):
            by_len.setdefault(len(t), []).append(t)
        self.by_length = {n: tuple(ts) for n, ts in by_len.items()}
        self._by_signature: dict[str, str | None] = {}

    @classmethod
    def of(
        cls, patterns: Sequence[str], weight: float = 1.0, bonus: float | None = None
    ) -> RegionPatterns:
        """One region with these patterns."""
        return cls([(weight, bonus, [t for p in patterns for t in expand(p)])])

    @classmethod
    def none(cls) -> RegionPatterns:
        return cls(())

    def __len__(self) -> int:
        return len(self.prior)

    def best_template(self, text: str) -> str | None:
        """The template with the best prior that ``text`` fits, if any."""
        signature = "".join("N" if c.isdigit() else "L" for c in text)
        if signature not in self._by_signature:
            fits = [
                t
                for t in self.by_length.get(len(text), ())
                if all(a == "*" or a == b for a, b in zip(t, signature, strict=True))
            ]
            self._by_signature[signature] = max(fits, key=lambda t: self.prior[t], default=None)
        return self._by_signature[signature]

    def matches(self, text: str) -> bool:
        return self.best_template(text) is not None

    def bonus_of(self, text: str, default: float, prior_weight: float = 1.0) -> float:
        """Natural-log score bonus of ``text``: its region's bonus (``default`` if the
        region sets none) plus ``prior_weight`` times the log prior of its template; 0
        when it fits none."""
        t = self.best_template(text)
        if t is None:
            return 0.0
        own = self.bonus[t]
        base = default if own is None else own
        return max(0.0, base + prior_weight * math.log(self.prior[t]))

    def fit(self, text: str, dists: np.ndarray, lookalikes: Sequence[str] = ()) -> set[str]:
        """``text`` fitted to each template of its length: a character outside its
        position's class becomes its most probable lookalike inside the class, or else
        the most probable character of the class (``dists``: per character, the
        probabilities of ``ALPHABET``)."""
        if dists.shape != (len(text), len(ALPHABET)):
            raise PatternError(f"{dists.shape} distributions for a {len(text)}-character text")
        out: set[str] = set()
        for template in self.by_length.get(len(text), ()):
            chars = []
            for ch, cls, dist in zip(text, template, dists, strict=True):
                allowed = CLASSES[cls]
                if ch in allowed:
                    chars.append(ch)
                    continue
                twins = "".join(c for g in lookalikes if ch in g for c in g if c in allowed)
                if twins:
                    allowed = twins
                idx = [ALPHABET.index(a) for a in allowed]
                chars.append(allowed[int(np.argmax(dist[idx]))])
            out.add("".join(chars))
        return out
