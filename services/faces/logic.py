"""Pure faces logic: which face of a crop to use, watchlist matching, the match score.

Privacy rules that live here:
- A face is compared with the watchlist only; there is no other output. ``match`` returns
  ``None`` for a face that matches nothing, and nothing here keeps the embedding.
- Expired watchlist entries never match, whatever the store still holds.
- Only the largest face of a person crop is used: the tracked person is the one the box
  was drawn around, and bystanders' faces are not even embedded.

Score: ``1 - distance / threshold``, clipped to 0..1. 1 is an identical embedding, values
near 0 lie just inside the threshold; a distance at or beyond the threshold is no match.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from civicsight.events import Crop, FaceObservation

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


@dataclass(frozen=True)
class Match:
    watchlist_id: str
    entry_id: str
    distance: float
    score: float


def match_score(distance: float, threshold: float) -> float:
    """1 - distance / threshold, clipped to 0..1 (see the module docstring)."""
    if threshold <= 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    return min(1.0, max(0.0, 1.0 - distance / threshold))


def match(
    embedding: np.ndarray, index: WatchlistIndex, threshold: float, now: float
) -> Match | None:
    """The nearest unexpired watchlist entry strictly within ``threshold`` (L2), or None."""
    if threshold <= 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    vector = np.asarray(embedding, np.float32)
    if vector.shape != (EMBEDDING_DIM,):
        raise ValueError(f"expected a {EMBEDDING_DIM}-d embedding, got shape {vector.shape}")
    live = index.expires_at > now
    if not live.any():
        return None
    distances = np.linalg.norm(index.vectors - vector, axis=1)
    distances[~live] = np.inf
    best = int(np.argmin(distances))
    distance = float(distances[best])
    if not distance < threshold:
        return None
    watchlist_id, entry_id = index.keys[best]
    return Match(watchlist_id, entry_id, distance, match_score(distance, threshold))


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


def observation(crop: Crop, found: Match, threshold: float) -> FaceObservation:
    """The event for a watchlist match on ``crop``'s track."""
    return FaceObservation(
        camera_id=crop.camera_id,
        track_id=crop.track_id,
        captured_at=crop.captured_at,
        watchlist_id=found.watchlist_id,
        entry_id=found.entry_id,
        score=found.score,
        threshold=threshold,
    )


def observations(
    crops: Sequence[Crop],
    embeddings: Sequence[np.ndarray | None],
    index: WatchlistIndex,
    threshold: float,
    now: float,
) -> list[FaceObservation]:
    """One event per crop whose face matches the watchlist; the rest yield nothing."""
    out: list[FaceObservation] = []
    for crop, embedding in zip(crops, embeddings, strict=True):
        if embedding is None:
            continue
        found = match(embedding, index, threshold, now)
        if found is not None:
            out.append(observation(crop, found, threshold))
    return out


def wants_crop(crop: Crop, enabled_cameras: frozenset[str]) -> bool:
    """Only person crops from cameras with faces enabled are looked at (even decoded)."""
    return crop.box.cls == "person" and crop.camera_id in enabled_cameras


FacesReason = tuple[str, str]
"""(purpose, legal basis) of a camera with faces on."""


def faces_changes(
    recorded: Mapping[str, FacesReason], current: Mapping[str, FacesReason]
) -> list[tuple[str, dict[str, str]]]:
    """Audit entries (action, details) that bring the recorded face-enabled cameras up to
    ``current``: a camera switched on, or whose purpose or legal basis changed, gives
    ``camera.faces_enabled``; one switched off gives ``camera.faces_disabled``."""
    out: list[tuple[str, dict[str, str]]] = []
    for camera_id in sorted(current):
        if recorded.get(camera_id) != current[camera_id]:
            purpose, basis = current[camera_id]
            out.append(
                (
                    "camera.faces_enabled",
                    {"camera_id": camera_id, "purpose": purpose, "legal_basis": basis},
                )
            )
    for camera_id in sorted(set(recorded) - set(current)):
        out.append(("camera.faces_disabled", {"camera_id": camera_id}))
    return out


def recorded_faces_cameras(
    entries: Iterable[tuple[str, Mapping[str, object]]],
) -> dict[str, FacesReason]:
    """The face-enabled cameras as the audit log's (action, details) entries, oldest
    first, leave them."""
    state: dict[str, FacesReason] = {}
    for action, details in entries:
        camera_id = str(details.get("camera_id"))
        if action == "camera.faces_enabled":
            state[camera_id] = (str(details.get("purpose")), str(details.get("legal_basis")))
        elif action == "camera.faces_disabled":
            state.pop(camera_id, None)
    return state
