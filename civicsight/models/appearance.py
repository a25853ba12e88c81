"""What an appearance vector is, for the re-ID service (camera crops) and the API's image
search (uploaded crops) alike: a crop embedded any other way would not be comparable with
the stored vectors. Which crops go to which model (``route``), the models and their
settings (``AppearanceSettings``, ``CIVICSIGHT_REID_*``), and how vehicle vectors are
made from the attribute network's trunk and a colour histogram.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np
from pydantic import Field

from civicsight.models.registry import resolve
from civicsight.models.runtimes.openvino_reid import OpenVinoReid, ReidOptions
from civicsight.models.runtimes.torchreid_osnet import OsnetOptions, TorchreidOsnet
from civicsight.models.runtimes.vehicle_attributes import OpenVinoVehicleAttributes
from civicsight.settings import DEVICE_PATTERN, DeviceChoice, HubSettings, ModelSource

log = logging.getLogger("reid")
Route = Literal["person", "vehicle"]
PERSON_CLASSES = frozenset({"person"})
VEHICLE_CLASSES = frozenset({"car", "truck", "bus", "motorcycle"})
HIST_BINS = (8, 4, 4)  # hue x saturation x value
VEHICLE_VECTOR = "trunk+hsv8x4x4"  # how vehicle vectors are made; part of the model label


class AppearanceSettings(HubSettings, ModelSource, DeviceChoice):
    """The appearance models, read by the re-ID service and the API's image search."""

    reid_backend: Literal["openvino", "torchreid"] = Field(
        "openvino", description="person re-ID runtime: openvino (OMZ models) or torchreid (OSNet)"
    )
    reid_model: Literal["reid-person-0277", "reid-person-0287", "reid-person-0288"] = Field(
        "reid-person-0277", description="OMZ person re-ID model in models/registry.yaml"
    )
    reid_torchreid_arch: str = Field(
        "osnet_x0_25", description="torchreid architecture (osnet_x0_25, osnet_x1_0, ...)"
    )
    reid_torchreid_weights: Path | None = Field(
        None, description="trained torchreid checkpoint for the torchreid backend"
    )
    reid_torchreid_threads: int = Field(
        1, ge=0, le=256, description="torch threads for OSNet (0: one per core)"
    )
    reid_device: str | None = Field(
        None,
        pattern=DEVICE_PATTERN,
        description="torchreid backend: auto (CUDA when present), cpu, cuda or cuda:N; the "
        "OpenVINO models always run on the CPU; unset: CIVICSIGHT_DEVICE",
    )
    reid_torchreid_random_weights: bool = Field(
        False,
        description="torchreid without weights: random network (speed checks only; "
        "its embeddings mean nothing)",
    )
    reid_vehicles: bool = Field(
        True, description="colour, type and appearance vectors of vehicle crops"
    )
    reid_vehicle_model: str = Field(
        "vehicle-attributes-0039", description="vehicle attribute model in models/registry.yaml"
    )
    reid_batch_max: int = Field(32, ge=1, le=256, description="crops per batch (at most)")


def route(cls: str) -> Route | None:
    """Which embedder a crop of class ``cls`` goes to (None: not embedded, e.g. bicycle)."""
    if cls in PERSON_CLASSES:
        return "person"
    if cls in VEHICLE_CLASSES:
        return "vehicle"
    return None


def colour_histogram(pixels: np.ndarray, bins: tuple[int, int, int] = HIST_BINS) -> np.ndarray:
    """HSV colour histogram of the crop (at 64x64), square-rooted and L2-normalised, so
    the dot product of two is the Bhattacharyya coefficient of the two distributions."""
    hsv = cv2.cvtColor(
        cv2.resize(pixels, (64, 64), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2HSV
    )
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(bins), [0, 180, 0, 256, 0, 256]).ravel()
    root = np.sqrt(hist / max(float(hist.sum()), 1e-12))
    return (root / max(float(np.linalg.norm(root)), 1e-12)).astype(np.float32)


def vehicle_vectors(trunk: np.ndarray, histograms: np.ndarray) -> np.ndarray:
    """Vehicle appearance: the attribute network's pooled trunk feature (learned colour
    and shape) and the colour histogram, each L2-normalised, side by side, over sqrt(2).
    The cosine of two such vectors is the mean of the two parts' cosines."""

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    return (np.hstack([unit(trunk), unit(histograms)]) / math.sqrt(2)).astype(np.float32)


class PersonEmbedder(Protocol):
    @property
    def dim(self) -> int: ...
    def start(self) -> None: ...
    def close(self) -> None: ...
    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray: ...


def build_person_embedder(settings: AppearanceSettings) -> tuple[PersonEmbedder, str]:
    """The configured person embedder, started, and its label for events."""
    if settings.reid_backend == "torchreid":
        osnet = TorchreidOsnet(
            settings.reid_torchreid_weights,
            OsnetOptions(
                arch=settings.reid_torchreid_arch,
                batch=settings.reid_batch_max,
                threads=settings.reid_torchreid_threads,
                device=settings.reid_device or settings.device,
            ),
            allow_random_weights=settings.reid_torchreid_random_weights,
        )
        osnet.start()
        log.info("torchreid %s on %s", osnet.label, osnet.device)
        if not osnet.trained:
            log.warning("torchreid runs on RANDOM weights: its embeddings mean nothing")
        return osnet, osnet.label
    spec, folder = resolve(
        settings.reid_model,
        settings.model_mirror,
        settings.data_dir / "models",
        settings.model_download,
    )
    xml = next(f.name for f in spec.files if f.name.endswith(".xml"))
    reid = OpenVinoReid(folder / xml, ReidOptions(batch=settings.reid_batch_max))
    reid.start()
    return reid, spec.label


def build_vehicle_model(settings: AppearanceSettings) -> tuple[OpenVinoVehicleAttributes, str]:
    spec, folder = resolve(
        settings.reid_vehicle_model,
        settings.model_mirror,
        settings.data_dir / "models",
        settings.model_download,
    )
    xml = next(f.name for f in spec.files if f.name.endswith(".xml"))
    model = OpenVinoVehicleAttributes(folder / xml, batch=settings.reid_batch_max)
    model.start()
    return model, f"{spec.label}+{VEHICLE_VECTOR}"
