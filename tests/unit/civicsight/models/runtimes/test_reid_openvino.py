"""The OMZ person re-ID models on real crops of the six sample walkers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from civicsight.models.registry import resolve
from civicsight.models.runtimes.openvino_reid import OpenVinoReid, ReidOptions
from tests.unit.civicsight.services.reid.walkers import standing_crops

MODELS = ("reid-person-0277", "reid-person-0287", "reid-person-0288")


@pytest.fixture(scope="module", params=MODELS)
def reid(request: pytest.FixtureRequest, model_mirror: Path) -> Iterator[OpenVinoReid]:
    spec, folder = resolve(request.param, model_mirror)
    model = OpenVinoReid(folder / f"{spec.files[0].name}", ReidOptions(batch=4))
    model.start()
    yield model
    model.close()


@pytest.fixture(scope="module")
def walkers() -> list[tuple[int, np.ndarray]]:
    return standing_crops()


def test_same_walker_is_closer_than_any_other_walker(
    reid: OpenVinoReid, walkers: list[tuple[int, np.ndarray]]
) -> None:
    """Guards the embedding path (resize, NHWC/NCHW layout, normalisation): a scrambled
    input blurs identities together. (The walkers dress mostly in black and grey, so a
    BGR/RGB swap is caught by the vehicle colour test, not here.)"""
    ids = np.array([w for w, _ in walkers])
    vectors = reid.embed([c for _, c in walkers])
    assert vectors.shape == (len(walkers), 256)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1.0)
    nearest = ids[np.argmax(sims, axis=1)]
    assert (nearest == ids).all(), f"nearest walker {nearest.tolist()}, want {ids.tolist()}"
    same = sims[(ids[:, None] == ids[None, :]) & (sims > -1)]
    different = sims[ids[:, None] != ids[None, :]]
    assert same.mean() > different.mean() + 0.3
    assert same.min() > different.max()


def test_a_batch_gives_the_same_vectors_as_single_crops(
    reid: OpenVinoReid, walkers: list[tuple[int, np.ndarray]]
) -> None:
    """Guards against mixing crops up across a batch, or a batch split (batch=4, 12 crops).
    Not bit-exact: the CPU plugin may infer in bf16 with kernels that depend on the batch."""
    crops = [c for _, c in walkers]
    together = reid.embed(crops)
    for i in (0, 5, 11):
        assert float(reid.embed([crops[i]])[0] @ together[i]) > 0.999


def test_empty_and_bad_input(reid: OpenVinoReid) -> None:
    assert reid.embed([]).shape == (0, 256)
    with pytest.raises(ValueError, match="crop 0: expected a non-empty BGR image"):
        reid.embed([np.zeros((0, 10, 3), np.uint8)])


def test_not_started_is_an_error(model_mirror: Path) -> None:
    spec, folder = resolve(MODELS[0], model_mirror)
    with pytest.raises(RuntimeError, match="not started"):
        OpenVinoReid(folder / spec.files[0].name).embed([np.zeros((8, 8, 3), np.uint8)])
