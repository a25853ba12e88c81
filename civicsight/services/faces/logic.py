"""Pure faces logic of the service: watchlist matching, the match score, which crops to
look at. (What enrolment and the API share with it lives in ``civicsight.faces``.)

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
from civicsight.faces import EMBEDDING_DIM, WatchlistIndex


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


def matched(
    crops: Sequence[Crop],
    embeddings: Sequence[np.ndarray | None],
    index: WatchlistIndex,
    threshold: float,
    now: float,
) -> list[tuple[int, FaceObservation]]:
    """(position in ``crops``, event) for each crop whose face matches the watchlist; the
    rest yield nothing. The position lets the service keep the matched face for review."""
    out: list[tuple[int, FaceObservation]] = []
    for i, (crop, embedding) in enumerate(zip(crops, embeddings, strict=True)):
        if embedding is None:
            continue
        found = match(embedding, index, threshold, now)
        if found is not None:
            out.append((i, observation(crop, found, threshold)))
    return out


def observations(
    crops: Sequence[Crop],
    embeddings: Sequence[np.ndarray | None],
    index: WatchlistIndex,
    threshold: float,
    now: float,
) -> list[FaceObservation]:
    """One event per crop whose face matches the watchlist; the rest yield nothing."""
    return [obs for _, obs in matched(crops, embeddings, index, threshold, now)]


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
