"""The ground-plane homography (``civicsight.geometry``): exact on its four points and
between them, and refused where it does not exist."""

from __future__ import annotations

import pytest

from civicsight.geometry import depth, homography, nearly_collinear, project

SQUARE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (SQUARE, [(0.0, 7.6), (13.5, 7.6), (13.5, 0.0), (0.0, 0.0)]),  # straight down
        (
            [(0.3, 0.4), (0.7, 0.4), (0.95, 0.95), (0.05, 0.95)],
            [(-3.5, 40), (3.5, 40), (3.5, 5), (-3.5, 5)],
        ),
        # the horizon through the picture's top-left corner (where h33 = 0 breaks a naive
        # solve fixing h33 = 1)
        ([(0.2, 0.3), (0.8, 0.3), (0.9, 0.9), (0.1, 0.9)], [(-2, 60), (2, 60), (2, 6), (-2, 6)]),
    ],
)
def test_the_four_points_map_exactly(
    src: list[tuple[float, float]], dst: list[tuple[float, float]]
) -> None:
    """Guards a homography fitted loosely (normalisation, sign) or transposed."""
    h = homography(src, dst)
    for p, q in zip(src, dst, strict=True):
        assert project(h, p) == pytest.approx(q, abs=1e-6)
    assert all(depth(h, p) > 0 for p in src)


def test_lines_stay_lines_and_ratios_follow_perspective() -> None:
    """A road seen in perspective: the picture's lower half shows less road than its upper
    half (far things look small), and the centre line stays the centre line. Guards an
    affine map taken for a homography."""
    h = homography(
        [(0.3, 0.4), (0.7, 0.4), (0.95, 0.95), (0.05, 0.95)],
        [(-3.5, 40.0), (3.5, 40.0), (3.5, 5.0), (-3.5, 5.0)],
    )
    near, mid, far = (project(h, (0.5, v)) for v in (0.95, 0.675, 0.4))
    assert near[0] == pytest.approx(0.0, abs=1e-9) and mid[0] == pytest.approx(0.0, abs=1e-9)
    assert mid[1] - near[1] < (far[1] - mid[1]) / 2  # the nearer half covers less road


@pytest.mark.parametrize(
    ("a", "b", "c", "collinear"),
    [
        ((0, 0), (1, 0), (2, 0), True),
        ((0, 0), (1, 0), (0.5, 0.005), True),  # 0.5 % of the side off the line
        ((0, 0), (1, 0), (0.5, 0.05), False),
        ((0, 0), (0, 0), (1, 1), True),  # a repeated point
    ],
)
def test_nearly_collinear(
    a: tuple[float, float], b: tuple[float, float], c: tuple[float, float], collinear: bool
) -> None:
    assert nearly_collinear(a, b, c) is collinear


def test_three_points_in_line_have_no_homography() -> None:
    with pytest.raises(ValueError, match="points 0, 1 and 2 lie on one line"):
        homography([(0, 0), (0.5, 0.5), (1, 1), (0, 1)], SQUARE)


def test_points_beyond_the_horizon_are_told_apart() -> None:
    """The road's edges meet at v = -0.04 (the horizon, just above the picture): a point
    above it is on the other side (``depth`` changes sign), and a point exactly on the
    horizon has no place on the ground. Guards speeds from boxes in the sky."""
    h = homography(
        [(0.3, 0.4), (0.7, 0.4), (0.95, 0.95), (0.05, 0.95)],
        [(-3.5, 40.0), (3.5, 40.0), (3.5, 5.0), (-3.5, 5.0)],
    )
    assert depth(h, (0.5, 0.0)) > 0 > depth(h, (0.5, -0.1))
    assert depth(h, (0.5, -0.04)) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="horizon"):
        project((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0), (0.3, 0.0))
