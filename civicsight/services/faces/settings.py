"""The faces service's settings (also read by its command line, `eval faces` and the
privacy report)."""

from __future__ import annotations

from pydantic import Field

from civicsight.models.runtimes.face_encoder import ModelChoice
from civicsight.settings import CameraFiles, ModelSource
from civicsight.watchlist import FaceMatchSettings


class FacesSettings(FaceMatchSettings, CameraFiles, ModelSource):
    face_batch_max: int = Field(8, ge=1, le=64, description="crops per batch (at most)")
    face_batch_wait_ms: int = Field(
        200,
        ge=1,
        le=5000,
        description="longest wait for the rest of a batch after its first message",
    )
    face_refresh_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="how often the watchlist and camera files are reloaded "
        "(expired entries purged)",
    )
    face_group: str = Field("faces", min_length=1, description="Kafka consumer group")
    face_from_start: bool = Field(
        False,
        description="a new consumer group also matches crops still kept on the topic "
        "(up to 6 h), not only new ones",
    )

    def model_choice(self) -> ModelChoice:
        return ModelChoice(
            detector=self.face_detector,
            embedder=self.face_embedder,
            mirror=self.model_mirror,
            cache=self.data_dir / "models",
            download=self.model_download,
            detect_score=self.face_detect_score,
        )
