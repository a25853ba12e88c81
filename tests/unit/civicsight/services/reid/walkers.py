"""Real person crops from ``one-by-one-person-detection.mp4`` (six walkers, one at a time),
shared by the re-ID tests. Boxes were found by the hub's detector (yolov8n int8)."""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from tests.support import media_file

VIDEO = "one-by-one-person-detection.mp4"
FRAME_SIZE = (768, 432)  # width, height
# walker -> (frame, box x1 y1 x2 y2) while standing at the table, sharp and whole
STANDING: dict[int, tuple[tuple[int, tuple[int, int, int, int]], ...]] = {
    1: ((99, (381, 15, 516, 391)), (176, (383, 16, 518, 392))),
    2: ((290, (380, 4, 544, 381)), (416, (380, 7, 544, 380))),
    3: ((559, (398, 0, 553, 385)), (671, (418, 0, 572, 390))),
    4: ((779, (366, 36, 503, 380)), (832, (360, 34, 495, 380))),
    5: ((1000, (383, 9, 522, 379)), (1079, (382, 8, 521, 379))),
    6: ((1270, (355, 0, 529, 394)), (1305, (353, 0, 527, 393))),
}
# close to the camera while walking in: motion-blurred, head and shoulders only
ENTERING: tuple[tuple[int, tuple[int, int, int, int]], ...] = (
    (745, (174, 368, 283, 432)),
    (1235, (138, 338, 286, 431)),
)


@cache
def frame(index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(media_file(VIDEO)))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = cap.read()
    cap.release()
    assert ok, f"frame {index} of {VIDEO} not readable"
    return image


def crop(index: int, box: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = box
    return frame(index)[y1:y2, x1:x2].copy()


def standing_crops() -> list[tuple[int, np.ndarray]]:
    """(walker, BGR crop) pairs: two views of each of the six walkers."""
    return [(w, crop(i, box)) for w, views in STANDING.items() for i, box in views]
