"""The re-ID service's models for one uploaded crop (image search).

An uploaded crop must be embedded exactly as the re-ID service embeds camera crops, or
its vector would not be comparable with the stored ones. So this adapter builds the
models from the same settings and builders (``civicsight.models.appearance``;
``CIVICSIGHT_REID_*`` variables apply to both) and joins vehicle vectors with the same
function. The models load on the first image search, not at start-up.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from civicsight.events import ObjectClass
from civicsight.models.appearance import (
    AppearanceSettings,
    build_person_embedder,
    build_vehicle_model,
    colour_histogram,
    route,
    vehicle_vectors,
)


class ReidImageEmbedder:
    """Lazily started person and vehicle embedders. Lifecycle: ... ``close()``."""

    def __init__(self, settings: AppearanceSettings | None = None) -> None:
        self.settings = settings or AppearanceSettings()
        self._lock = threading.Lock()
        self._persons: Any = None
        self._vehicles: Any = None
        self._labels: dict[str, str] = {}

    def _start(self, kind: str) -> None:
        if kind == "person" and self._persons is None:
            self._persons, self._labels["person"] = build_person_embedder(self.settings)
        elif kind == "vehicle" and self._vehicles is None:
            self._vehicles, self._labels["vehicle"] = build_vehicle_model(self.settings)

    def model_for(self, cls: ObjectClass) -> str | None:
        kind = route(cls)
        if kind is None or (kind == "vehicle" and not self.settings.reid_vehicles):
            return None
        with self._lock:
            self._start(kind)
        return self._labels[kind]

    def embed(self, image: np.ndarray, cls: ObjectClass) -> np.ndarray:
        kind = route(cls)
        with self._lock:
            if kind == "person":
                self._start("person")
                vector: np.ndarray = self._persons.embed([image])[0]
                return vector
            if kind == "vehicle":
                self._start("vehicle")
                trunk = self._vehicles.analyse([image]).trunk
                vectors: np.ndarray = vehicle_vectors(trunk, colour_histogram(image)[None, :])
                return vectors[0]
        raise ValueError(f"{cls} crops are not embedded")

    def close(self) -> None:
        with self._lock:
            for model in (self._persons, self._vehicles):
                if model is not None:
                    model.close()
            self._persons = self._vehicles = None
