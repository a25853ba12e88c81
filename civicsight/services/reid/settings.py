"""The re-ID service's settings: the appearance models (shared with the image search) and
how crops are chosen and batched."""

from __future__ import annotations

from pydantic import Field

from civicsight.models.appearance import AppearanceSettings
from civicsight.settings import WatchedCameras


class ReidSettings(AppearanceSettings, WatchedCameras):
    """The re-ID service: the appearance models (shared with the image search) and how
    crops are chosen and batched."""

    reid_min_quality: float = Field(
        0.3, ge=0, le=1, description="crops of lower quality (blur, size, border) are skipped"
    )
    reid_sharp_ref: float = Field(
        300.0, gt=0, description="Laplacian variance that counts as fully sharp"
    )
    reid_batch_wait_ms: int = Field(
        100,
        ge=1,
        le=5000,
        description="longest wait for the rest of a batch after its first message",
    )
    reid_group: str = Field(
        "reid", min_length=1, description="Kafka consumer group (processes in it share the crops)"
    )
