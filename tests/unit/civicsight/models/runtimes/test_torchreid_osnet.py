"""The torchreid OSNet adapter: loading rules, output shape and speed. No trained OSNet
weights are available offline, so everything here runs on random weights and says
nothing about accuracy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from civicsight.models.runtimes.torchreid_osnet import OsnetOptions, TorchreidOsnet, WeightsError
from tests.unit.civicsight.services.reid.walkers import standing_crops


@pytest.fixture(scope="module")
def random_osnet() -> Iterator[TorchreidOsnet]:
    model = TorchreidOsnet(None, OsnetOptions(batch=8), allow_random_weights=True)
    model.start()
    yield model
    model.close()


def test_shape_and_unit_length(random_osnet: TorchreidOsnet) -> None:
    """Guards the preprocessing and batching (12 crops in batches of 8); random weights, so
    no accuracy is claimed. Speed: `civicsight eval reid` with the torchreid backend prints
    ms per crop (a benchmark, not an assert)."""
    crops = [c for _, c in standing_crops()]
    vectors = random_osnet.embed(crops)
    assert vectors.shape == (12, 512)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    atol = 1e-4 if random_osnet.device == "cpu" else 2e-2  # fp16 on CUDA
    np.testing.assert_allclose(random_osnet.embed([crops[9]])[0], vectors[9], atol=atol)


def test_random_weights_are_labelled_as_such(random_osnet: TorchreidOsnet) -> None:
    """Guards against random embeddings passing as a model's in the events."""
    assert not random_osnet.trained
    assert random_osnet.label == "torchreid-osnet_x0_25@random-init"


def test_no_weights_without_the_explicit_flag_is_an_error() -> None:
    """Guards against silently running an untrained network."""
    with pytest.raises(WeightsError, match="no weights file set"):
        TorchreidOsnet(None).start()


def test_saved_weights_load_back_exactly(random_osnet: TorchreidOsnet, tmp_path: Path) -> None:
    """The real loading path: a torchreid checkpoint gives back the same network."""
    path = tmp_path / "osnet.pth"
    random_osnet.save(path)
    loaded = TorchreidOsnet(path, OsnetOptions(batch=8))
    loaded.start()
    crops = [c for _, c in standing_crops()[:3]]
    np.testing.assert_allclose(loaded.embed(crops), random_osnet.embed(crops), atol=1e-5)
    assert loaded.trained and loaded.label.startswith("torchreid-osnet_x0_25@")
    loaded.close()


@pytest.mark.parametrize(
    ("content", "arch", "message"),
    [
        ("osnet_x0_5", "osnet_x0_25", "wrong shape"),  # weights of another width
        (b"not a checkpoint", "osnet_x0_25", "not a readable torch checkpoint"),
        (None, "osnet_x0_25", "not found"),
        ("osnet_x0_25", "no_such_net", "Unknown model"),
    ],
    ids=["other-architecture", "garbage", "missing-file", "unknown-arch"],
)
def test_bad_weights_are_refused_with_the_reason(
    tmp_path: Path, content: str | bytes | None, arch: str, message: str
) -> None:
    """Guards against torchreid's default of skipping mismatched layers with a warning,
    which would leave a partly random network."""
    path = tmp_path / "weights.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        donor = TorchreidOsnet(None, OsnetOptions(arch=content), allow_random_weights=True)
        donor.start()
        donor.save(path)
        donor.close()
    with pytest.raises(WeightsError, match=message):
        TorchreidOsnet(path, OsnetOptions(arch=arch)).start()


def test_device_follows_cuda(random_osnet: TorchreidOsnet) -> None:
    """Guards the CUDA switch: `auto` runs on CUDA exactly when a CUDA device is there, and
    asking for CUDA on a machine without one fails at start, not at the first crop."""
    from civicsight.models.runtimes.torch_device import cuda_present

    assert random_osnet.device == ("cuda" if cuda_present() else "cpu")
    if not cuda_present():
        osnet = TorchreidOsnet(None, OsnetOptions(device="cuda"), allow_random_weights=True)
        with pytest.raises(RuntimeError, match="no CUDA device"):
            osnet.start()
