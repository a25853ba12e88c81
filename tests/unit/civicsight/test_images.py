"""Image bytes: type and size from the header, crop decoding for the perception services."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from civicsight.bus import Received
from civicsight.events import Box, Crop
from civicsight.images import PNG_SIGNATURE, ImageHeader, decode_jpeg, decoded_crops, image_header
from tests.support import bomb_png


def crop(camera: str, jpeg: bytes, cls: str = "person") -> Crop:
    box = Box(x1=0, y1=0, x2=10, y2=10, cls=cls, conf=0.9, track_id=1)  # type: ignore[arg-type]
    return Crop(camera_id=camera, track_id=1, captured_at=1.0, box=box, quality=0.5, jpeg=jpeg)


@pytest.mark.parametrize(
    ("data", "min_side", "ok"),
    [(b"\xff\xd8garbage\xff\xd9", 1, False), ("real", 1, True), ("real", 5000, False)],
)
def test_decode_jpeg(media_mirror: Path, data: bytes | str, min_side: int, ok: bool) -> None:
    if data == "real":
        data = cv2.imencode(".jpg", cv2.imread(str(media_mirror / "bus.jpg")))[1].tobytes()
    assert (decode_jpeg(data, min_side) is not None) is ok  # type: ignore[arg-type]


def test_only_wanted_crops_are_decoded_and_broken_ones_dead_lettered(
    media_mirror: Path,
) -> None:
    """Guards against decoding crops of cameras where an analytics is off (privacy), and
    against a broken JPEG stopping the batch."""
    good = cv2.imencode(".jpg", cv2.imread(str(media_mirror / "zidane.jpg")))[1].tobytes()
    broken = b"\xff\xd8broken\xff\xd9"
    batch = [
        Received("crops", c.camera_id, c, None)
        for c in (  # type: ignore[arg-type]
            crop("on", good),
            crop("off", broken),
            crop("on", broken),
        )
    ]
    dead: list[str] = []
    out = decoded_crops(
        batch, lambda c: c.camera_id == "on", lambda r, why: dead.append(f"{r.key}: {why}")
    )
    assert [(c.camera_id, im.shape[2]) for c, im in out] == [("on", 3)]
    assert dead == ["on: crop JPEG cannot be decoded"]  # the off camera's was never opened


# ---- image_header: type by content, size before decoding -------------------------------

NOISE = np.random.default_rng(7).integers(0, 255, (40, 60, 3), dtype=np.uint8)


def encoded(ext: str, params: list[int] | None = None) -> bytes:
    pixels = NOISE.astype(np.float32) / 255 if ext in (".hdr", ".pfm") else NOISE
    ok, buf = cv2.imencode(ext, pixels, params or [])
    assert ok, ext
    return buf.tobytes()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: encoded(".jpg"), ImageHeader("jpeg", 60, 40)),
        (lambda: encoded(".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), ImageHeader("jpeg", 60, 40)),
        (lambda: encoded(".png"), ImageHeader("png", 60, 40)),
        # what the outside probe sent as image/jpeg or image/png and got searched
        (lambda: encoded(".gif"), None),
        (lambda: encoded(".bmp"), None),
        (lambda: encoded(".tiff"), None),
        (lambda: encoded(".webp"), None),
        (lambda: encoded(".jp2"), None),
        (lambda: encoded(".ppm"), None),
        (lambda: encoded(".hdr"), None),
        (lambda: encoded(".ras"), None),
        (lambda: encoded(".pfm"), None),
        (lambda: encoded(".avif"), None),
        # cut or forged headers
        (lambda: b"", None),
        (lambda: b"\xff\xd8", None),
        (lambda: b"\xff\xd8garbage", None),
        (lambda: encoded(".jpg")[:20], None),
        (lambda: encoded(".png")[:20], None),
        (lambda: PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR" + b"\x00" * 8, None),  # 0x0
        (lambda: b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
    ],
    ids=[
        "jpeg", "jpeg-progressive", "png", "gif", "bmp", "tiff", "webp", "jpeg2000", "ppm",
        "hdr", "sun-raster", "pfm", "avif", "empty", "soi-only", "soi-garbage", "jpeg-cut",
        "png-cut", "png-0x0", "svg",
    ],
)  # fmt: skip
def test_image_header(make: Callable[[], bytes], expected: ImageHeader | None) -> None:
    """Guards typing an upload by its declared Content-Type (finding 2): only the bytes
    say what a file is."""
    assert image_header(make()) == expected


def test_a_decompression_bomb_is_sized_from_its_header() -> None:
    """Guards decoding a 30000x30000 PNG to find out it is too large (finding 1): the
    header gives its size from the first 24 bytes."""
    data = bomb_png(30_000, 30_000)
    assert len(data) < 1_000_000
    assert image_header(data) == ImageHeader("png", 30_000, 30_000)
    assert image_header(data[:24]) == ImageHeader("png", 30_000, 30_000)
