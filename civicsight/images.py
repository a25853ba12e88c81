"""Image bytes shared by the services: what an upload is (by its content, before any
decoding), JPEG decoding, and the crop batch step the perception services all take."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from civicsight.bus import Received
from civicsight.events import Crop

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8\xff"
# start-of-frame markers: baseline, extended, progressive, lossless, arithmetic variants
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn: markers without a segment


@dataclass(frozen=True)
class ImageHeader:
    """What an image file says about itself before a single pixel is decoded."""

    kind: Literal["jpeg", "png"]
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def image_header(data: bytes) -> ImageHeader | None:
    """The type and size of a JPEG or PNG, read from its magic bytes and header alone;
    None for anything else (GIF, BMP, TIFF, WebP, ...) or a header that is cut or broken.

    This is how an upload is checked before decoding: a few kilobytes of PNG can declare
    30000x30000 pixels, and decoding them would take gigabytes of memory."""
    if data.startswith(PNG_SIGNATURE):
        return _png_header(data)
    if data.startswith(JPEG_SOI):
        return _jpeg_header(data)
    return None


def _png_header(data: bytes) -> ImageHeader | None:
    # the first chunk must be IHDR: length 13, then width and height (big-endian)
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return ImageHeader("png", width, height) if width and height else None


def _jpeg_header(data: bytes) -> ImageHeader | None:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _NO_LENGTH:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            return None
        if marker in _SOF:
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return ImageHeader("jpeg", width, height) if width and height else None
        pos += 2 + length
    return None


def decode_jpeg(data: bytes, min_side: int = 1) -> np.ndarray | None:
    """BGR pixels, or None for bytes that are no image (or one under ``min_side`` px)."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0 or min(image.shape[:2]) < min_side:
        return None
    return image


def read_image(path: Path) -> np.ndarray:
    """A BGR image from a file; a clear error for anything that is not one."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    image = decode_jpeg(path.read_bytes())
    if image is None:
        raise ValueError(f"{path}: not an image OpenCV can read")
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
