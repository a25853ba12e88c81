"""Face detection and embedding put together from the model registry: the faces
service, the watchlist command, the API's enrolment and the eval all run these.

It sits with the runtimes (the only code that loads models), not in a service, because
the API enrols watchlist photos with exactly the models the faces service matches with,
and services never import each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from civicsight.faces import pick_face
from civicsight.models.registry import resolve
from civicsight.models.runtimes.face_detector import Faces, YuNetDetector
from civicsight.models.runtimes.face_embedder import DlibFaceEmbedder


@dataclass(frozen=True)
class ModelChoice:
    """Which registry models to run and where their files are."""

    detector: str
    embedder: str
    mirror: Path | None
    cache: Path | None
    download: bool = False
    detect_score: float = 0.6


class FaceEncoder:
    """YuNet boxes -> dlib embeddings. Lifecycle: start() ... close() (starts both models)."""

    def __init__(self, detector: YuNetDetector, embedder: DlibFaceEmbedder, label: str) -> None:
        self.detector = detector
        self.embedder = embedder
        self.label = label

    @classmethod
    def from_registry(cls, choice: ModelChoice) -> FaceEncoder:
        det_spec, det_folder = resolve(
            choice.detector, choice.mirror, choice.cache, choice.download
        )
        if det_spec.task != "face-detect":
            raise ValueError(f"{choice.detector} is a {det_spec.task} model, not face-detect")
        emb_spec, emb_folder = resolve(
            choice.embedder, choice.mirror, choice.cache, choice.download
        )
        if emb_spec.task != "face-embed":
            raise ValueError(f"{choice.embedder} is a {emb_spec.task} model, not face-embed")
        return cls(
            YuNetDetector(det_folder / det_spec.files[0].name, score_threshold=choice.detect_score),
            DlibFaceEmbedder(emb_folder),
            f"{det_spec.label}+{emb_spec.label}",
        )

    def start(self) -> None:
        self.detector.start()
        self.embedder.start()

    def close(self) -> None:
        self.detector.close()
        self.embedder.close()

    def faces(self, image: np.ndarray) -> Faces:
        return self.detector.detect(image)

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        (vectors,) = self.embedder.embed([(image, boxes)])
        return vectors

    def largest_faces(
        self, images: Sequence[np.ndarray], min_face_px: float
    ) -> list[np.ndarray | None]:
        """Per image, the embedding of its widest face at least ``min_face_px`` wide (None
        if there is none). Only that face is embedded; the chips go through dlib at once."""
        return [None if f is None else f[0] for f in self.largest_face_boxes(images, min_face_px)]

    def largest_face_boxes(
        self, images: Sequence[np.ndarray], min_face_px: float
    ) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """Per image, (embedding, box x1 y1 x2 y2) of its widest face at least
        ``min_face_px`` wide, or None: ``largest_faces`` with where the face is."""
        chosen: list[tuple[np.ndarray, np.ndarray]] = []
        for image in images:
            faces = self.detector.detect(image)
            i = pick_face(faces.widths, min_face_px)
            boxes = faces.boxes[i : i + 1] if i is not None else np.zeros((0, 4), np.float32)
            chosen.append((image, boxes))
        vectors = self.embedder.embed(chosen)
        return [
            (v[0], boxes[0]) if len(v) else None
            for v, (_, boxes) in zip(vectors, chosen, strict=True)
        ]
