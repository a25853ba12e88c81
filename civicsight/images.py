"""JPEG decoding shared by the services, and the crop batch step they all take."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import cv2
import numpy as np

from civicsight.bus import Received
from civicsight.events import Crop


def decode_jpeg(data: bytes, min_side: int = 1) -> np.ndarray | None:
    """BGR pixels, or None for bytes that are no image (or one under ``min_side`` px)."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0 or min(image.shape[:2]) < min_side:
        return None
    return image


def decoded_crops(
    batch: Iterable[Received],
    wanted: Callable[[Crop], bool],
    dead_letter: Callable[[Received, str], None],
    min_side: int = 1,
) -> list[tuple[Crop, np.ndarray]]:
    """The wanted crops of a batch with their pixels; crops not wanted are not even
    decoded, crops that do not decode are dead-lettered."""
    out: list[tuple[Crop, np.ndarray]] = []
    for rec in batch:
        crop = rec.event
        if not isinstance(crop, Crop) or not wanted(crop):
            continue
        image = decode_jpeg(crop.jpeg, min_side)
        if image is None:
            dead_letter(rec, "crop JPEG cannot be decoded")
            continue
        out.append((crop, image))
    return out
