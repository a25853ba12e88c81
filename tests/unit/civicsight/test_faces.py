"""The review crop of a face: the region it keeps and the JPEG it makes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from civicsight.faces import face_crop_jpeg, face_region


@pytest.mark.parametrize(
    ("box", "size", "want"),
    [
        ((40, 40, 60, 70), (200, 100), (33, 29, 67, 81)),
        ((0, 0, 20, 30), (200, 100), (0, 0, 27, 41)),
        ((90, 180, 100, 200), (100, 200), (86, 173, 100, 200)),
        ((99.5, 199.5, 100, 200), (100, 200), (99, 199, 100, 200)),
        ((150, 250, 160, 260), (100, 200), (99, 199, 100, 200)),
    ],
    ids=["inside", "top-left-edge", "bottom-right-edge", "sub-pixel", "outside"],
)
def test_face_region_grows_the_box_and_stays_in_the_image(
    box: tuple[float, float, float, float],
    size: tuple[int, int],
    want: tuple[int, int, int, int],
) -> None:
    """Guards the crop against empty or out-of-image regions (a box at an edge, a box a
    detector put partly outside)."""
    assert face_region(box, *size) == want


def test_face_crop_is_a_small_jpeg_of_the_face_only() -> None:
    """Guards what is kept of a picture for review: the face with its margin, scaled down
    to at most 320 pixels, never the rest of the picture."""
    image = np.zeros((2000, 1500, 3), np.uint8)
    image[500:1300, 400:1000] = 255  # the "face"
    jpeg = face_crop_jpeg(image, (400, 500, 1000, 1300))
    crop = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert max(crop.shape[:2]) == 320
    assert crop.shape[0] > crop.shape[1]  # the face's own proportions
    assert crop[crop.shape[0] // 2, crop.shape[1] // 2].min() > 200
