"""The camera graph and the transit-time gate and model."""

from __future__ import annotations

import math

import pytest

from civicsight.streams.association.transit import CameraGraph, CameraSpot, TransitModel

GRID = [CameraSpot(f"c{i}", 400.0 * (i % 3), 400.0 * (i // 3)) for i in range(9)]


@pytest.mark.parametrize(
    ("cls", "gap", "gated"),
    [
        ("person", 30.0, True),  # 400 m in 30 s: 13 m/s, no walker
        ("person", 280.0, False),  # 1.4 m/s
        ("person", 5000.0, True),  # 0.08 m/s
        ("car", 40.0, False),  # 10 m/s
        ("car", 5.0, True),  # 80 m/s
        ("car", 300.0, False),  # 1.3 m/s: a stop on the way is possible
        ("bus", 45.0, False),
    ],
)
def test_transit_gate_by_class_speed(cls: str, gap: float, gated: bool) -> None:
    """Guards: impossible transits (too fast or absurdly slow) reaching the matcher."""
    llr = TransitModel().llr("c0", "c1", cls, 400.0, gap)
    assert (llr is None) == gated


@pytest.mark.parametrize(("cls", "good", "bad"), [("person", 290.0, 900.0), ("car", 40.0, 200.0)])
def test_usual_speed_scores_above_unusual(cls: str, good: float, bad: float) -> None:
    model = TransitModel()
    a, b = model.llr("c0", "c1", cls, 400.0, good), model.llr("c0", "c1", cls, 400.0, bad)
    assert a is not None and b is not None and a > b


def test_confident_matches_refine_the_pair_speed() -> None:
    """Guards: a road where everyone drives 20 m/s never learnt (its transits look odd)."""
    model = TransitModel()
    before = model.llr("c0", "c1", "car", 400.0, 20.0)
    for _ in range(30):
        model.learn("c0", "c1", "car", 400.0, 25.0)  # 16 m/s, inside the typical band
    assert math.exp(model.typical_log_speed("c0", "c1", "car")) > 13.0
    after = model.llr("c0", "c1", "car", 400.0, 20.0)
    assert before is not None and after is not None and after > before
    # other pairs keep the prior; a stop-like outlier is not learnt
    assert math.exp(model.typical_log_speed("c1", "c2", "car")) == pytest.approx(10.0)
    model.learn("c1", "c2", "car", 400.0, 400.0)
    assert math.exp(model.typical_log_speed("c1", "c2", "car")) == pytest.approx(10.0)


def test_links_define_the_graph_when_given() -> None:
    graph = CameraGraph.build(GRID, [("c0", "c4", 600.0)])
    assert graph.from_links
    assert graph.distance("c0", "c4") == graph.distance("c4", "c0") == 600.0
    assert graph.distance("c0", "c1") is None  # not linked, although close


def test_without_links_neighbours_come_from_positions() -> None:
    """Guards: a scenario with an empty links list joining nothing across cameras."""
    graph = CameraGraph.build(GRID)
    assert not graph.from_links
    assert graph.distance("c0", "c1") == pytest.approx(400.0)
    assert graph.distance("c0", "c3") == pytest.approx(400.0)
    assert graph.distance("c0", "c8") is None  # the far corner: others stand between
    assert graph.nearest("c4") == pytest.approx(400.0)


@pytest.mark.parametrize(
    "links", [[("c0", "nowhere", 10.0)], [("c0", "c0", 10.0)], [("c0", "c1", 0.0)]]
)
def test_bad_links_are_refused(links: list[tuple[str, str, float]]) -> None:
    with pytest.raises(ValueError):
        CameraGraph.build(GRID, links)
