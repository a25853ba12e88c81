"""Face rules that the faces service, the watchlist and the API share (pure: arrays in,
arrays or bytes out; no model, no storage).

- ``WatchlistIndex``: the enrolled embeddings the faces service compares with.
- Which face of an image counts: the widest usable one of a person crop
  (``pick_face``), the one clear face of an enrolment photo (``enrolment_face``).
- ``check_enrolment``: the photos of one entry must show one person.
- ``face_crop_jpeg``: the face region a reviewer looks at, for the enrolled reference
  photo and for the matched face of an alert alike, so the two compare side by side.

They live in the kernel because both the faces service (matching) and the API
(enrolment, alert review) need them, and services never import each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

EMBEDDING_DIM = 128
DEFAULT_THRESHOLD = 0.5
"""L2 distance below which two dlib embeddings are taken as one person. dlib's own
operating point is 0.6 (LFW). On the sample faces (services/faces/eval.py) every
same-person pair lies at or below 0.46 and every different-person pair at or above
0.69, so 0.5 loses no true match there and keeps a wider margin against false matches,
which weigh more for a watchlist: every passer-by is compared with every entry."""
DEFAULT_MIN_FACE_PX = 32
"""Faces narrower than this are not embedded. Scaling the sample photos down, a face
30 px wide lands up to 0.37 from its own full-size embedding, an 18 px one up to 0.51
(beyond the threshold): small faces make unreliable matches."""
FACE_CROP_MARGIN = 0.35
"""How much wider and taller than the detector's box a review crop is, on each side: the
box hugs brows to chin, and a reviewer also compares hairline, ears and jaw."""
FACE_CROP_MAX_SIDE = 320
"""Review crops are scaled down to this: enough to compare two faces, and no more of
the picture than that is kept."""


class EnrolmentError(ValueError):
    """Photos that cannot enrol a person; the message says which photo and why."""


@dataclass(frozen=True)
class WatchlistIndex:
    """An immutable snapshot of enrolled embeddings: row i belongs to ``keys[i]``
    (watchlist_id, entry_id) and stops matching at ``expires_at[i]`` (Unix seconds)."""

    vectors: np.ndarray
    keys: tuple[tuple[str, str], ...]
    expires_at: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.keys)
        if self.vectors.shape != (n, EMBEDDING_DIM) or self.expires_at.shape != (n,):
            raise ValueError(
                f"index shapes disagree: vectors {self.vectors.shape}, {n} keys, "
                f"expires_at {self.expires_at.shape}"
            )
        self.vectors.flags.writeable = False
        self.expires_at.flags.writeable = False

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def entries(self) -> set[tuple[str, str]]:
        return set(self.keys)

    @classmethod
    def build(cls, rows: Iterable[tuple[str, str, float, np.ndarray]]) -> WatchlistIndex:
        """From (watchlist_id, entry_id, expires_at, vector) rows."""
        keys: list[tuple[str, str]] = []
        expires: list[float] = []
        vectors: list[np.ndarray] = []
        for watchlist_id, entry_id, expires_at, vector in rows:
            keys.append((watchlist_id, entry_id))
            expires.append(float(expires_at))
            vectors.append(np.asarray(vector, np.float32).reshape(EMBEDDING_DIM))
        return cls(
            vectors=np.array(vectors, np.float32).reshape(len(keys), EMBEDDING_DIM),
            keys=tuple(keys),
            expires_at=np.array(expires, np.float64),
        )

    @classmethod
    def empty(cls) -> WatchlistIndex:
        return cls.build(())


def pick_face(widths: np.ndarray, min_face_px: float) -> int | None:
    """Index of the widest face at least ``min_face_px`` wide, or None."""
    if not len(widths):
        return None
    best = int(np.argmax(widths))
    return best if float(widths[best]) >= min_face_px else None


def enrolment_face(
    name: str, widths: np.ndarray, scores: np.ndarray, min_face_px: float, min_score: float
) -> int:
    """The one clear face of an enrolment photo. A photo with no usable face, or with
    several confident faces (who is to be enrolled?), is refused."""
    clear = [
        i
        for i in range(len(widths))
        if float(scores[i]) >= min_score and float(widths[i]) >= min_face_px
    ]
    if not clear:
        raise EnrolmentError(
            f"{name}: no face at least {min_face_px:g} px wide with detector score >= {min_score:g}"
        )
    if len(clear) > 1:
        raise EnrolmentError(
            f"{name}: {len(clear)} faces; enrol from photos that show only the person"
        )
    return clear[0]


def check_enrolment(names: Sequence[str], vectors: np.ndarray, threshold: float) -> None:
    """Refuse photos that do not show one person: every pair must be within ``threshold``."""
    for i in range(len(vectors)):
        for j in range(i + 1, len(vectors)):
            d = float(np.linalg.norm(vectors[i] - vectors[j]))
            if not d < threshold:
                raise EnrolmentError(
                    f"{names[i]} and {names[j]} look like different people (distance "
                    f"{d:.2f} >= threshold {threshold:g}); check the photos"
                )


def face_region(
    box: Sequence[float] | np.ndarray, width: int, height: int, margin: float = FACE_CROP_MARGIN
) -> tuple[int, int, int, int]:
    """The face box ``x1, y1, x2, y2`` grown by ``margin`` of its size on each side and
    clipped to the image: the pixels a review crop holds (at least one pixel)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    gw, gh = margin * (x2 - x1), margin * (y2 - y1)
    a = min(max(0, int(np.floor(x1 - gw))), width - 1)
    b = min(max(0, int(np.floor(y1 - gh))), height - 1)
    c = max(min(width, int(np.ceil(x2 + gw))), a + 1)
    d = max(min(height, int(np.ceil(y2 + gh))), b + 1)
    return a, b, c, d


def face_crop_jpeg(
    image: np.ndarray,
    box: Sequence[float] | np.ndarray,
    max_side: int = FACE_CROP_MAX_SIDE,
    quality: int = 90,
) -> bytes:
    """The face in ``box`` of a BGR image, with a margin, at most ``max_side`` pixels a
    side, as JPEG: what an alert keeps of its match and the watchlist of its enrolment."""
    if image.ndim != 3 or not image.size:
        raise ValueError(f"expected a BGR image, got shape {image.shape}")
    a, b, c, d = face_region(box, image.shape[1], image.shape[0])
    face = image[b:d, a:c]
    scale = max_side / max(face.shape[:2])
    if scale < 1:
        size = (max(1, round(face.shape[1] * scale)), max(1, round(face.shape[0] * scale)))
        face = cv2.resize(face, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(face), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the face crop cannot be encoded as JPEG")
    return buf.tobytes()
