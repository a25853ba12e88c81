"""Fixtures for the faces tests: the real YuNet + dlib models and the sample face photos."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from services.faces.pipeline import FaceEncoder, ModelChoice, read_image
from tests.support import media_file


@pytest.fixture(scope="session")
def encoder(model_mirror: Path) -> Iterator[FaceEncoder]:
    """YuNet-s and dlib's ResNet, as the service runs them."""
    enc = FaceEncoder.from_registry(
        ModelChoice("face-det-yunet-s", "face-embed-dlib-resnet", model_mirror, None)
    )
    enc.start()
    yield enc
    enc.close()


@pytest.fixture(scope="session")
def photo() -> Callable[[str], np.ndarray]:
    """Loads a sample photo from ``<media mirror>/faces`` (BGR), once per session."""

    @cache
    def load(name: str) -> np.ndarray:
        image = read_image(media_file(f"faces/{name}"))
        image.flags.writeable = False
        return image

    return load
