"""The plate reader: plate detectors and the recogniser wired to the pure logic.

Shared by the service (vehicle crops from the bus) and ``eval`` (whole photos).

Reading is adaptive. The first detector (the fast 320 px one) finds the plates, and
each plate is read from a few crops of it. Only a plate whose reading is not settled
(low confidence, or crops that disagree) is looked at again: the other detector (640 px)
runs on that image, and the crops cut from its corners vote as well. A detector that
finds nothing also hands over to the next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from civicsight.models.registry import resolve
from civicsight.models.runtimes.plate_detector import PlateBox, PlateDetector
from civicsight.models.runtimes.plate_ocr import PlateRecognizer
from civicsight.services.plates.logic import (
    Choice,
    CropPlan,
    PlateText,
    choose,
    ctc_greedy,
    group_boxes,
    iou,
    plate_lines,
    settled,
)
from civicsight.services.plates.patterns import RegionPatterns

DETECTORS = {320: "plate-det-y5fu-320", 640: "plate-det-y5fu-640"}
RECOGNIZER = "plate-ocr-ppocrv4-rec"


@dataclass(frozen=True)
class ReaderOptions:
    detector_sizes: tuple[int, ...] = (320, 640)
    detector_conf: float = 0.2
    same_plate_iou: float = 0.4
    plan: CropPlan = field(default_factory=CropPlan)
    choice: Choice = field(default_factory=Choice)
    settle_conf: float = 0.9
    settle_agree: float = 0.5
    threads: int = 1


@dataclass(frozen=True)
class PlateFound:
    """A plate in the image: the best detector box, the chosen text (None if nothing
    could be read) and how many crops were read."""

    box: PlateBox
    text: PlateText | None
    crops: int = 0


@dataclass
class _Plate:
    image: int
    boxes: list[PlateBox]
    readings: list[np.ndarray] = field(default_factory=list)
    text: PlateText | None = None


class PlateReader:
    """Finds and reads the plates in BGR images. Lifecycle: ``start()`` ... ``close()``."""

    def __init__(
        self,
        detectors: Sequence[PlateDetector],
        recognizer: PlateRecognizer,
        patterns: RegionPatterns,
        options: ReaderOptions,
    ) -> None:
        if not detectors:
            raise ValueError("at least one plate detector is needed")
        self.detectors = list(detectors)
        self.recognizer = recognizer
        self.patterns = patterns
        self.options = options

    @classmethod
    def from_registry(
        cls,
        patterns: RegionPatterns,
        options: ReaderOptions,
        mirror: Path | None,
        cache: Path | None,
        download: bool = False,
    ) -> PlateReader:
        detectors = []
        for size in options.detector_sizes:
            if size not in DETECTORS:
                raise ValueError(f"plate detector size {size}: choose from {sorted(DETECTORS)}")
            spec, folder = resolve(DETECTORS[size], mirror, cache, download)
            detectors.append(
                PlateDetector(
                    folder / spec.files[0].name,
                    size,
                    conf=options.detector_conf,
                    threads=options.threads,
                )
            )
        spec, folder = resolve(RECOGNIZER, mirror, cache, download)
        recognizer = PlateRecognizer(folder / spec.files[0].name, threads=options.threads)
        return cls(detectors, recognizer, patterns, options)

    def start(self) -> None:
        for d in self.detectors:
            d.start()
        self.recognizer.start()

    def close(self) -> None:
        for d in self.detectors:
            d.close()
        self.recognizer.close()

    def read_images(
        self, images: Sequence[np.ndarray], max_plates: int = 1
    ) -> list[list[PlateFound]]:
        """Per image, its plates (at most ``max_plates``, best detection first), read."""
        if max_plates < 1:
            raise ValueError(f"max_plates must be at least 1, got {max_plates}")
        used = [0] * len(images)  # detectors run so far, per image
        plates: list[_Plate] = []
        for i, image in enumerate(images):
            boxes: list[PlateBox] = []
            while not boxes and used[i] < len(self.detectors):
                boxes = self.detectors[used[i]].detect(image)
                used[i] += 1
            groups = group_boxes(
                [b.xyxy for b in boxes], [b.conf for b in boxes], self.options.same_plate_iou
            )
            plates += [_Plate(i, [boxes[k] for k in g]) for g in groups[:max_plates]]
        self._read(images, [(p, p.boxes) for p in plates])
        unsettled = [p for p in plates if not self._settled(p)]
        second: list[tuple[_Plate, list[PlateBox]]] = []
        for i in sorted({p.image for p in unsettled}):
            extra = [b for d in self.detectors[used[i] :] for b in d.detect(images[i])]
            used[i] = len(self.detectors)
            for plate in (p for p in unsettled if p.image == i):
                lead = plate.boxes[0].xyxy
                same = [b for b in extra if iou(b.xyxy, lead) >= self.options.same_plate_iou]
                if same:
                    best = max(same, key=lambda b: b.conf)
                    plate.boxes.append(best)
                    second.append((plate, [best]))
        self._read(images, second)
        out: list[list[PlateFound]] = [[] for _ in images]
        for p in plates:
            out[p.image].append(PlateFound(p.boxes[0], p.text, len(p.readings)))
        return out

    def read_image(self, image: np.ndarray, max_plates: int = 4) -> list[PlateFound]:
        """Every plate found in ``image`` (at most ``max_plates``, best first), read."""
        return self.read_images([image], max_plates)[0]

    def _read(
        self, images: Sequence[np.ndarray], work: list[tuple[_Plate, list[PlateBox]]]
    ) -> None:
        """Recognise the crops cut from the given boxes of each plate (one batch), add them
        to the plate's readings and choose its text again."""
        lines: list[np.ndarray] = []
        spans: list[tuple[int, int]] = []
        for plate, boxes in work:
            double = sum(b.conf for b in plate.boxes if b.rows == 2) > sum(
                b.conf for b in plate.boxes if b.rows == 1
            )
            crops = plate_lines(
                images[plate.image],
                [b.corners for b in boxes],
                boxes[0].xyxy,
                double,
                self.options.plan,
            )
            spans.append((len(lines), len(lines) + len(crops)))
            lines += crops
        readings = self.recognizer.recognize(lines) if lines else []
        for (plate, _), (a, b) in zip(work, spans, strict=True):
            plate.readings.extend(readings[a:b])
            plate.text = self._choose(plate.readings)

    def _choose(self, readings: Sequence[np.ndarray]) -> PlateText | None:
        return choose(readings, self.patterns, self.options.choice) if readings else None

    def _settled(self, plate: _Plate) -> bool:
        if len(self.detectors) == 1:
            return True
        texts = [ctc_greedy(r).text for r in plate.readings]
        return settled(plate.text, texts, self.options.settle_conf, self.options.settle_agree)
