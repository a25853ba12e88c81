"""Decoded crops -> quality gate -> batched embeddings -> ``Appearance`` events.

Persons go through the person embedder (OMZ re-ID or torchreid's OSNet); vehicles through
``vehicle-attributes-0039``: colour and type, and an appearance vector of the network's
pooled trunk feature and a colour histogram (``civicsight.models.appearance``). Crops below
the least quality are skipped, not published.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from civicsight.events import Appearance, Crop
from civicsight.models.appearance import PersonEmbedder, colour_histogram, vehicle_vectors
from civicsight.models.runtimes.vehicle_attributes import COLOURS, TYPES, OpenVinoVehicleAttributes
from civicsight.services.reid.logic import Plan, QualityParams, appearance, plan, vehicle_label

log = logging.getLogger("reid")


class CropEmbedder:
    """Turns batches of decoded crops into Appearance events."""

    def __init__(
        self,
        persons: PersonEmbedder,
        person_label: str,
        vehicles: OpenVinoVehicleAttributes | None,
        vehicle_label: str,
        min_quality: float,
        quality: QualityParams | None = None,
    ) -> None:
        self.persons = persons
        self.person_label = person_label
        self.vehicles = vehicles
        self.vehicle_label = vehicle_label
        self.min_quality = min_quality
        self.quality = quality or QualityParams()
        self.skipped_low_quality = 0
        self.embedded = 0

    def process(
        self, crops: Sequence[tuple[Crop, np.ndarray]], cameras: frozenset[str]
    ) -> list[Appearance]:
        todo: Plan = plan(crops, cameras, self.min_quality, self.vehicles is not None, self.quality)
        self.skipped_low_quality += todo.low_quality
        out: list[Appearance] = []
        if todo.persons:
            vectors = self.persons.embed([s.pixels for s in todo.persons])
            out += [
                appearance(s, self.person_label, v)
                for s, v in zip(todo.persons, vectors, strict=True)
            ]
        if todo.vehicles and self.vehicles is not None:
            attrs = self.vehicles.analyse([s.pixels for s in todo.vehicles])
            hists = np.stack([colour_histogram(s.pixels) for s in todo.vehicles])
            vectors = vehicle_vectors(attrs.trunk, hists)
            for i, s in enumerate(todo.vehicles):
                label = vehicle_label(
                    s.crop.box.cls, attrs.colour[i], attrs.type[i], COLOURS, TYPES
                )
                out.append(appearance(s, self.vehicle_label, vectors[i], label))
                log.debug(
                    "%s: %s %s (%.2f), type %s (%s)",
                    s.crop.tracklet_id,
                    s.crop.box.cls,
                    label.colour,
                    label.colour_conf,
                    label.type,
                    label.type_conf,
                )
        self.embedded += len(out)
        return out
