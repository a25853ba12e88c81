"""Region plate patterns: expansion, the regions file, priors, and fitting by position."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from civicsight.models.runtimes.plate_ocr import ALPHABET
from civicsight.plate_text import TWINS, PatternError
from civicsight.services.plates.patterns import RegionPatterns, expand, load_regions

REGIONS_FILE = Path(__file__).resolve().parents[5] / "civicsight" / "data" / "plate-regions.yaml"


@pytest.mark.parametrize(
    ("pattern", "templates"),
    [
        ("LLNNNLL", ["LLNNNLL"]),
        ("L{2}N{3}L{2}", ["LLNNNLL"]),
        ("L{2}N{3,4}L", ["LLNNNL", "LLNNNNL"]),
        ("N*", ["N*"]),
        ("L{1,2}N{1,2}", ["LLN", "LLNN", "LN", "LNN"]),
    ],
)
def test_patterns_expand_to_fixed_templates(pattern: str, templates: list[str]) -> None:
    """Guards against repetition ranges that silently drop or add formats."""
    assert expand(pattern) == templates


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "empty"),
        ("LLX", "unexpected 'X'"),
        ("L{0}", "bad repetition"),
        ("L{3,2}", "bad repetition"),
        ("L{13}", "bad repetition"),
        ("L{6}N{7}", "over 12 characters"),
    ],
)
def test_bad_patterns_are_refused_with_the_reason(pattern: str, message: str) -> None:
    """Guards against a typo in the regions file that matches nothing or everything."""
    with pytest.raises(PatternError, match=message):
        expand(pattern)


def test_the_shipped_regions_file_loads_and_selects() -> None:
    """Guards against a broken config/plates/regions.yaml (the service would not start)."""
    regions = load_regions(REGIONS_FILE)
    assert regions.lookalikes == TWINS  # from the kernel's table, not the file
    assert len(regions.select(["all"])) > len(regions.select(["europe"])) > 0
    sk = regions.select(["sk"])
    assert sk.matches("BA302OZ") and not sk.matches("BA3020Z")
    us = regions.select(["us"])
    assert us.bonus_of("ABC1234", default=8.0) == pytest.approx(3.0)  # the region's own
    with pytest.raises(PatternError, match="unknown plate region 'xx'"):
        regions.select(["sk", "xx"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("regions: {}", "regions"),
        ("regions: {sk: {name: S, patterns: [LLQ]}}", "unexpected 'Q'"),
        ("regions: {sk: {name: S, patterns: [LL], race: x}}", "Extra inputs"),
        ("regions: {sk: {name: S, patterns: [LL]}}\nlookalikes: [O0O]", "pairs"),
        ("regions: {sk: {name: S, patterns: [LL]}}\nlookalikes: [0D]", "twins"),
        ("regions: [", "while parsing"),
    ],
    ids=["empty", "bad-pattern", "unknown-key", "bad-lookalikes", "near-lookalikes", "not-yaml"],
)
def test_bad_region_files_name_the_file_and_problem(
    tmp_path: Path, content: str, message: str
) -> None:
    """Guards against a service that starts with a half-read region file."""
    path = tmp_path / "regions.yaml"
    path.write_text(content)
    with pytest.raises(PatternError, match=message) as err:
        load_regions(path)
    assert str(path) in str(err.value)


def test_groups_naming_unknown_regions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "regions.yaml"
    path.write_text("regions: {sk: {name: S, patterns: [LL]}}\ngroups: {eu: [sk, zz]}")
    with pytest.raises(PatternError, match="zz"):
        load_regions(path).select(["eu"])


def test_priors_favour_formats_shared_by_many_regions() -> None:
    """Guards against a broad region (many formats) outweighing common strict formats:
    LLNNNLL used by two regions must beat LLNNNNL, one of a broad region's many."""
    patterns = RegionPatterns(
        [
            (1.0, None, expand("LLNNNLL")),
            (1.0, None, expand("LLNNNLL")),
            (1.0, None, expand("L{1,2}N{1,5}L{1,2}")),
        ]
    )
    strict = patterns.bonus_of("BA302OZ", default=8.0)
    broad = patterns.bonus_of("BA3020Z", default=8.0)
    assert strict == pytest.approx(8.0)
    assert 0 < broad < strict - 3
    assert patterns.bonus_of("BA30Z", default=8.0) > 0
    assert patterns.bonus_of("1234", default=8.0) == 0.0


def dists(text: str, second: dict[int, str]) -> np.ndarray:
    """Per character: 0.9 on the read character, 0.1 on a chosen second choice."""
    out = np.full((len(text), len(ALPHABET)), 1e-4)
    for i, ch in enumerate(text):
        out[i, ALPHABET.index(ch)] = 0.9
        if i in second:
            out[i, ALPHABET.index(second[i])] = 0.1
    return out / out.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(
    ("text", "second", "pattern", "fitted"),
    [
        ("RK857A1", {}, "LLNNNLL", "RK857AI"),  # lookalike 1 -> I in a letter position
        ("PP587A0", {}, "LLNNNLL", "PP587AO"),
        ("8A3020Z", {}, "LLNNNLL", "BA302OZ"),
        ("RKO99AN", {}, "LLNNNLL", "RK099AN"),  # O -> 0 in a digit position
        ("RK8S7AN", {3: "5"}, "LLNNNLL", "RK857AN"),
        ("RK857AH", {6: "4"}, "LLNNNLN", "RK857A4"),  # no lookalike: best digit by dists
    ],
)
def test_fitting_chooses_lookalikes_by_position(
    text: str, second: dict[int, str], pattern: str, fitted: str
) -> None:
    """Guards against O/0, I/1, B/8 mix-ups that a plate format rules out."""
    patterns = RegionPatterns.of([pattern])
    out = patterns.fit(text, dists(text, second), TWINS)
    assert out == {fitted}


def test_fitting_only_uses_templates_of_the_same_length() -> None:
    patterns = RegionPatterns.of(["LLNNNLL", "LNNNLL"])
    assert patterns.fit("AB12", dists("AB12", {}), TWINS) == set()
    with pytest.raises(PatternError, match="distributions"):
        patterns.fit("AB12", dists("AB1", {}), TWINS)
