"""The faces service's models in the API process, for watchlist enrolment.

Enrolment must embed a photo exactly as the faces service embeds what cameras see, or
its entry would never match: so the models come from the same registry entries
(``CIVICSIGHT_FACE_DETECTOR``, ``CIVICSIGHT_FACE_EMBEDDER``, read by
``civicsight.watchlist.FaceMatchSettings``) through the same encoder
(``models.runtimes.face_encoder``). They load on the first enrolment, not at start-up;
if their files are missing, enrolment answers 503 and the rest of the API works.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from civicsight.models.registry import ModelUnavailableError
from civicsight.models.runtimes.face_detector import Faces
from civicsight.models.runtimes.face_encoder import FaceEncoder, ModelChoice
from civicsight.services.api.state import FaceModelsUnavailableError

log = logging.getLogger("api")


class LazyFaceEncoder:
    """``civicsight.watchlist.FaceEncoding`` that starts the models when first used.
    Lifecycle: ... ``close()``."""

    def __init__(self, choice: ModelChoice) -> None:
        self.choice = choice
        self._lock = threading.Lock()
        self._encoder: FaceEncoder | None = None

    def _started(self) -> FaceEncoder:
        with self._lock:
            if self._encoder is None:
                try:
                    encoder = FaceEncoder.from_registry(self.choice)
                    encoder.start()
                except (ModelUnavailableError, FileNotFoundError) as err:
                    log.error("face models unavailable, enrolment is off: %s", err)
                    raise FaceModelsUnavailableError(
                        "the face models cannot be loaded on this hub (the API's log says why)"
                    ) from None
                self._encoder = encoder
            return self._encoder

    def faces(self, image: np.ndarray) -> Faces:
        return self._started().faces(image)

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        return self._started().embed(image, boxes)

    def close(self) -> None:
        with self._lock:
            if self._encoder is not None:
                self._encoder.close()
                self._encoder = None
