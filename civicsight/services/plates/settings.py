"""The plates service's settings (also read by `civicsight eval plates`), and the plate
reader they describe."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from civicsight.resources import data_path
from civicsight.services.plates.logic import Choice, CropPlan
from civicsight.services.plates.patterns import load_regions
from civicsight.services.plates.pipeline import PlateReader, ReaderOptions
from civicsight.settings import HubSettings, ModelSource, WatchedCameras


class PlatesSettings(HubSettings, WatchedCameras, ModelSource):
    """The plates service (and `civicsight eval plates`); CIVICSIGHT_* variables."""

    vehicle_model: str = Field(
        "yolov8n-int8-openvino", description="vehicle detector for `civicsight eval plates`"
    )
    plate_regions_file: Path = Field(
        data_path("plate-regions.yaml"), description="plate formats by region (YAML)"
    )
    plate_regions: str = Field(
        "europe",
        description="plate regions or groups of the regions file, comma separated, e.g. "
        "europe, us, hr,sk (all: every region; fewer regions choose better)",
    )
    plate_detector_sizes: str = Field(
        "320,640",
        description="plate detector input sizes in order: the first finds plates, the next "
        "look again at plates whose reading is unsure",
    )
    plate_detector_conf: float = Field(
        0.2, gt=0, lt=1, description="least plate detection confidence"
    )
    plate_pattern_bonus: float = Field(
        8.0,
        ge=0,
        le=20,
        description="log-likelihood bonus of a text that fits a region pattern "
        "(regions may set their own)",
    )
    plate_min_conf: float = Field(
        0.3, ge=0, le=1, description="reads below this confidence do not vote"
    )
    plate_vote_gain: float = Field(
        0.05, ge=0, lt=1, description="confidence rise that publishes the same text again"
    )
    plate_keep_s: float = Field(
        120.0, gt=0, description="seconds a tracklet's votes are kept after its last read"
    )
    plate_pseudonyms: bool = Field(
        True,
        description="also publish each voted read as a plate_sightings pseudonym (keyed by "
        "a random key of the day held in memory only) for journey times; off: no plate "
        "journey times",
    )
    plate_threads: int = Field(2, ge=1, le=64, description="CPU threads per plate model")
    plate_batch_max: int = Field(16, ge=1, le=256, description="crops per batch (at most)")
    plate_batch_wait_ms: int = Field(
        100,
        ge=1,
        le=5000,
        description="longest wait for the rest of a batch after its first message",
    )

    def reader_options(self, lookalikes: Sequence[str]) -> ReaderOptions:
        try:
            sizes = tuple(int(s) for s in self.plate_detector_sizes.split(",") if s.strip())
        except ValueError:
            raise ValueError(
                f"CIVICSIGHT_PLATE_DETECTOR_SIZES={self.plate_detector_sizes!r}: "
                "expected sizes such as 320,640"
            ) from None
        return ReaderOptions(
            detector_sizes=sizes,
            detector_conf=self.plate_detector_conf,
            plan=CropPlan(),
            choice=Choice(pattern_bonus=self.plate_pattern_bonus, lookalikes=tuple(lookalikes)),
            threads=self.plate_threads,
        )


def build_reader(settings: PlatesSettings) -> PlateReader:
    """The plate reader the settings describe, started."""
    regions = load_regions(settings.plate_regions_file)
    reader = PlateReader.from_registry(
        regions.select(settings.plate_regions.split(",")),
        settings.reader_options(regions.lookalikes),
        settings.model_mirror,
        settings.data_dir / "models",
        settings.model_download,
    )
    reader.start()
    return reader
