"""Uploaded images (image search, watchlist enrolment): checked before they are decoded.

The type comes from the bytes, never from the upload's Content-Type, and the size from
the file's header: a small file that declares a huge image is refused without decoding
it. The body guard (``body_guard.py``) has already capped the request; the routes decode
in a worker thread, so the event loop keeps serving.
"""

from __future__ import annotations

import cv2
import numpy as np
from fastapi import HTTPException

from civicsight.images import image_header
from civicsight.services.api.body_guard import too_large
from civicsight.services.api.params import SearchLimits


def decode_image(data: bytes, limits: SearchLimits) -> np.ndarray:
    """The pixels of an uploaded JPEG or PNG. The type comes from the bytes, never from
    the upload's Content-Type, and the size from the file's header before anything is
    decoded: a small file that declares a huge image is refused without decoding it."""
    if len(data) > limits.max_upload_bytes:
        raise HTTPException(413, too_large(limits.max_upload_bytes))
    if not data:
        raise HTTPException(400, "image: the upload is empty")
    header = image_header(data)
    if header is None:
        raise HTTPException(415, "image: not a readable JPEG or PNG (type read from its bytes)")
    side = max(header.width, header.height)
    if side > limits.max_image_side:
        raise HTTPException(
            413,
            f"image: {header.width}x{header.height} pixels is too large; at most "
            f"{limits.max_image_side} pixels a side",
        )
    if min(header.width, header.height) < limits.min_image_side:
        raise HTTPException(
            400,
            f"image: {header.width}x{header.height} pixels; a crop needs "
            f"{limits.min_image_side} to {limits.max_image_side} pixels a side",
        )
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        pixels = None
    if pixels is None or pixels.shape[:2] != (header.height, header.width):
        raise HTTPException(415, f"image: not a readable {header.kind.upper()}")
    return pixels
