"""The real face models and sample face photos, for every test folder that needs them
(faces service, watchlist, API enrolment): one way to build them, fixtures in each
folder's conftest."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np

from civicsight.images import read_image
from civicsight.models.runtimes.face_encoder import FaceEncoder, ModelChoice
from tests.support import media_file


@contextlib.contextmanager
def face_encoder(model_mirror: Path) -> Iterator[FaceEncoder]:
    """YuNet-s and dlib's ResNet, started, as the faces service runs them."""
    enc = FaceEncoder.from_registry(
        ModelChoice("face-det-yunet-s", "face-embed-dlib-resnet", model_mirror, None)
    )
    enc.start()
    try:
        yield enc
    finally:
        enc.close()


@cache
def face_photo(name: str) -> np.ndarray:
    """A sample photo from ``<media mirror>/faces`` (BGR, read-only), read once."""
    image = read_image(media_file(f"faces/{name}"))
    image.flags.writeable = False
    return image


def face_photo_bytes(name: str) -> bytes:
    """The file of a sample face photo, as a user would upload it."""
    return media_file(f"faces/{name}").read_bytes()
