"""Fixtures for the faces tests: the real YuNet + dlib models and the sample face photos."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from civicsight.models.runtimes.face_encoder import FaceEncoder
from tests.faces_support import face_encoder, face_photo


@pytest.fixture(scope="session")
def encoder(model_mirror: Path) -> Iterator[FaceEncoder]:
    """YuNet-s and dlib's ResNet, as the service runs them."""
    with face_encoder(model_mirror) as enc:
        yield enc


@pytest.fixture(scope="session")
def photo() -> Callable[[str], np.ndarray]:
    """Loads a sample photo from ``<media mirror>/faces`` (BGR), once per session."""
    return face_photo
