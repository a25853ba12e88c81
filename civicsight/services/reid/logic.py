"""Pure re-identification logic: which crops to embed, how good a crop is, how vehicle
appearance vectors are built, and the events. Domain values in, domain values out (no
bus, clock or model runtime here).

Crop quality (``crop_quality``) is a number in 0..1, the product of three factors, each
in 0..1:

- sharpness: the variance of the Laplacian of the grey crop, resized to the size the
  analysis works at (the re-ID network's input for persons), over ``sharp_ref``, capped
  at 1. Motion blur and defocus remove the fine edges the Laplacian responds to. On the
  sample walkers at 256x128, a sharp standing person gives 400-600 and a walker blurred
  by motion at the frame edge 20-80, hence the reference of 300; the sample cars at
  128x128 give 100 (blurred, leaving fast) to 800.
- size: the geometric mean of the box's width and height over half that of the analysis
  size, capped at 1: a crop with less than half the network's resolution in each
  direction holds less detail than the network can use.
- whole: is the object probably all in the crop? ``cut_factor`` (0.5) when the box
  touches the frame border (within ``border_margin``, 4 pixels: the detector's boxes of
  people cut by the border end 3-4 pixels short of it); else 1. The left and top
  borders are always checked, the right and bottom ones only when the frame size is
  known (the ``Crop`` event does not carry it yet). For persons this is multiplied by a
  shape factor: a standing or walking person is 2-3 times as tall as wide, so a box
  less than twice as tall as wide is a partial view (head and shoulders close to the
  camera, a person cut by the border or by another object). It falls linearly from 1 at
  2:1 to 0 at 1:1. On the sample walkers, such close-ups entering the picture match
  their own walker with a cosine of about 0.1-0.5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from civicsight.events import Appearance, Crop
from civicsight.models.appearance import Route, route

PERSON_SIZE = (256, 128)  # analysis (height, width): the OMZ and OSNet input size
VEHICLE_SIZE = (128, 128)


@dataclass(frozen=True)
class QualityParams:
    sharp_ref: float = 300.0  # Laplacian variance that scores full sharpness
    border_margin: float = 4.0  # pixels from the frame border that count as touching it
    cut_factor: float = 0.5  # factor for a box that touches the frame border
    person_full_aspect: float = 2.0  # height / width from which a person box scores 1
    person_zero_aspect: float = 1.0  # height / width at which a person box scores 0


@dataclass(frozen=True)
class Quality:
    """A crop's quality (``value``) and the three factors it is the product of."""

    sharpness: float
    size: float
    whole: float

    @property
    def value(self) -> float:
        return max(0.0, min(1.0, self.sharpness * self.size * self.whole))


def laplacian_variance(pixels: np.ndarray, size: tuple[int, int]) -> float:
    """Variance of the Laplacian of the grey image resized to ``size`` (height, width)."""
    grey = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(small, cv2.CV_64F).var())


def crop_quality(
    pixels: np.ndarray,
    box: tuple[float, float, float, float],
    route: Route,
    frame_size: tuple[int, int] | None = None,
    params: QualityParams | None = None,
) -> Quality:
    """Quality of one crop (see the module doc). ``pixels``: the BGR crop; ``box``: its
    x1, y1, x2, y2 in the frame; ``route``: person or vehicle; ``frame_size``: the frame's
    (width, height) if known."""
    p = params or QualityParams()
    if pixels.size == 0:
        return Quality(0.0, 0.0, 1.0)
    size = PERSON_SIZE if route == "person" else VEHICLE_SIZE
    sharp = min(1.0, laplacian_variance(pixels, size) / p.sharp_ref)
    x1, y1, x2, y2 = box
    w, h = max(0.0, x2 - x1), max(0.0, y2 - y1)
    extent = min(1.0, math.sqrt(w * h) / (0.5 * math.sqrt(size[0] * size[1])))
    cut = x1 <= p.border_margin or y1 <= p.border_margin
    if frame_size is not None:
        width, height = frame_size
        cut = cut or x2 >= width - p.border_margin or y2 >= height - p.border_margin
    whole = p.cut_factor if cut else 1.0
    if route == "person":
        aspect = h / w if w > 0 else 0.0
        span = p.person_full_aspect - p.person_zero_aspect
        whole *= min(1.0, max(0.0, (aspect - p.person_zero_aspect) / span))
    return Quality(sharp, extent, whole)


@dataclass(frozen=True)
class VehicleLabel:
    """The most likely colour and type of a vehicle with their probabilities."""

    colour: str
    colour_conf: float
    type: str | None  # None for motorcycles: the network knows car, van, truck, bus only
    type_conf: float | None


def vehicle_label(
    cls: str,
    colour_probs: np.ndarray,
    type_probs: np.ndarray,
    colours: Sequence[str],
    types: Sequence[str],
) -> VehicleLabel:
    c = int(np.argmax(colour_probs))
    if cls == "motorcycle":
        return VehicleLabel(colours[c], float(colour_probs[c]), None, None)
    t = int(np.argmax(type_probs))
    return VehicleLabel(colours[c], float(colour_probs[c]), types[t], float(type_probs[t]))


@dataclass(frozen=True)
class Scored:
    """A crop chosen for embedding: the event, its decoded pixels and its quality."""

    crop: Crop
    pixels: np.ndarray
    route: Route
    quality: Quality


@dataclass(frozen=True)
class Plan:
    """What to do with a batch of crops: embed these persons and vehicles, skip the rest."""

    persons: list[Scored]
    vehicles: list[Scored]
    not_reid_camera: int = 0
    other_class: int = 0
    low_quality: int = 0


def plan(
    crops: Sequence[tuple[Crop, np.ndarray]],
    cameras: frozenset[str],
    min_quality: float,
    vehicles: bool = True,
    params: QualityParams | None = None,
) -> Plan:
    """Sort decoded crops: only reid-enabled cameras, persons (and vehicles if
    ``vehicles``), at least ``min_quality``."""
    persons: list[Scored] = []
    cars: list[Scored] = []
    off = other = low = 0
    for crop, pixels in crops:
        if crop.camera_id not in cameras:
            off += 1
            continue
        kind = route(crop.box.cls)
        if kind is None or (kind == "vehicle" and not vehicles):
            other += 1
            continue
        box = (crop.box.x1, crop.box.y1, crop.box.x2, crop.box.y2)
        quality = crop_quality(pixels, box, kind, crop.frame_size, params)
        if quality.value < min_quality:
            low += 1
            continue
        (persons if kind == "person" else cars).append(Scored(crop, pixels, kind, quality))
    return Plan(persons, cars, off, other, low)


def appearance(
    scored: Scored, model: str, vector: np.ndarray, label: VehicleLabel | None = None
) -> Appearance:
    """The event for one embedded crop (same camera, track and capture time); vehicles
    carry their colour and body type."""
    crop = scored.crop
    return Appearance(
        colour=label.colour if label else None,
        colour_conf=round(label.colour_conf, 4) if label else None,
        vehicle_type=label.type if label else None,
        vehicle_type_conf=round(label.type_conf, 4) if label and label.type_conf else None,
        camera_id=crop.camera_id,
        track_id=crop.track_id,
        captured_at=crop.captured_at,
        cls=crop.box.cls,
        quality=round(scored.quality.value, 4),
        model=model,
        embedding=tuple(float(v) for v in vector),
    )


def cosine_stats(values: np.ndarray) -> dict[str, float | int | None]:
    """Mean, standard deviation, min and max of a set of cosines (None when empty)."""
    if values.size == 0:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None}
    return {
        "n": int(values.size),
        "mean": round(float(values.mean()), 4),
        "std": round(float(values.std()), 4),
        "min": round(float(values.min()), 4),
        "max": round(float(values.max()), 4),
    }
