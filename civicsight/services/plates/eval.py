"""Plate-reading accuracy on a folder of labelled photos: ``civicsight eval plates DIR``.

Each photo ``NAME.jpg`` (or .jpeg/.png) has ``NAME.txt`` with one line per plate:
``file x y w h PLATE`` (the plate box in pixels and its text). Every photo goes through
the same path as the hub: vehicle detection (the hub's detector) -> plate detection in
each vehicle crop (the whole photo when no vehicle, or no plate in any vehicle, is
found) -> reading. A labelled plate counts as read when the plate found at its place
(the best-scoring detection overlapping the label box) reads exactly its text after
normalisation (upper case, separators removed).

Prints accuracy (also for the even- and odd-numbered photos in name order, for
held-out checks), the character confusions and milliseconds per plate; ``--json``
prints one JSON object instead. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from civicsight.models.registry import resolve
from civicsight.models.runtimes.openvino_yolo import OpenVinoYolo, YoloOptions
from civicsight.plate_text import clean
from civicsight.services.plates.logic import char_confusions, iou
from civicsight.services.plates.pipeline import PlateFound, PlateReader
from civicsight.services.plates.settings import PlatesSettings, build_reader

VEHICLE_CLASSES = (2, 3, 5, 7)  # COCO car, motorcycle, bus, truck
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class EvalError(ValueError):
    """A folder or label file that cannot be evaluated."""


@dataclass(frozen=True)
class Label:
    box: tuple[float, float, float, float]
    text: str


@dataclass(frozen=True)
class Photo:
    image: Path
    labels: tuple[Label, ...]


def load_folder(folder: Path) -> list[Photo]:
    if not folder.exists():
        raise EvalError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise EvalError(f"{folder}: not a folder")
    photos: list[Photo] = []
    for image in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        label_file = image.with_suffix(".txt")
        if not label_file.is_file():
            continue
        labels: list[Label] = []
        for n, line in enumerate(label_file.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                x, y, w, h = (float(v) for v in parts[1:5])
            except ValueError:
                raise EvalError(f"{label_file}:{n}: expected 'file x y w h PLATE'") from None
            text = clean("".join(parts[5:]))
            if len(parts) < 6 or not text or w <= 0 or h <= 0:
                raise EvalError(f"{label_file}:{n}: expected 'file x y w h PLATE'")
            labels.append(Label((x, y, x + w, y + h), text))
        if labels:
            photos.append(Photo(image, tuple(labels)))
    if not photos:
        raise EvalError(f"{folder}: no labelled photos (NAME.jpg with NAME.txt) found")
    return photos


def read_photo(image: np.ndarray, vehicles: np.ndarray, reader: PlateReader) -> list[PlateFound]:
    """Plates of a whole photo, in photo pixels: the best plate of each vehicle crop
    (``vehicles``: xyxy boxes), as the service reads a vehicle's crop, or the plates of
    the whole photo when the vehicles show none."""
    h, w = image.shape[:2]
    offsets: list[tuple[int, int]] = []
    crops: list[np.ndarray] = []
    for box in vehicles:
        x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
        x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
        if x2 - x1 >= 16 and y2 - y1 >= 16:
            offsets.append((x1, y1))
            crops.append(image[y1:y2, x1:x2])
    found = [
        PlateFound(p.box.shifted(dx, dy), p.text, p.crops)
        for (dx, dy), plates in zip(offsets, reader.read_images(crops, max_plates=1), strict=True)
        for p in plates
    ]
    return found or reader.read_image(image)


def pad_square(image: np.ndarray) -> np.ndarray:
    """The photo padded (right or bottom, grey) to a square: the vehicle detector then
    compiles one input shape, not one per aspect ratio; boxes keep their coordinates."""
    h, w = image.shape[:2]
    side = max(h, w)
    if h == w:
        return image
    out = np.full((side, side, 3), 114, np.uint8)
    out[:h, :w] = image
    return out


def match(label: Label, found: Sequence[PlateFound]) -> PlateFound | None:
    """The best-scoring plate found at the label's place (overlap, or centre inside)."""

    def at(p: PlateFound) -> bool:
        x1, y1, x2, y2 = p.box.xyxy
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        lx1, ly1, lx2, ly2 = label.box
        return iou(p.box.xyxy, label.box) >= 0.2 or (lx1 <= cx <= lx2 and ly1 <= cy <= ly2)

    near = [p for p in found if at(p)]
    return max(near, key=lambda p: p.box.conf) if near else None


def summarise(rows: list[dict[str, object]], seconds: float) -> dict[str, object]:
    def acc(sel: list[dict[str, object]]) -> float | None:
        return round(sum(bool(r["correct"]) for r in sel) / len(sel), 4) if sel else None

    confusions: Counter[tuple[str, str]] = Counter()
    for r in rows:
        if r["read"] and not r["correct"]:
            confusions.update(char_confusions(str(r["read"]), str(r["truth"])))
    return {
        "exact_accuracy": acc(rows),
        "plates": len(rows),
        "correct": sum(bool(r["correct"]) for r in rows),
        "found": sum(r["read"] is not None for r in rows),
        "even_accuracy": acc(rows[0::2]),
        "odd_accuracy": acc(rows[1::2]),
        "ms_per_plate": round(1000 * seconds / max(1, len(rows)), 1),
        "confusions": [
            {"truth": a or "-", "read": b or "-", "count": n}
            for (a, b), n in confusions.most_common(20)
        ],
        "misreads": [
            {"file": r["file"], "truth": r["truth"], "read": r["read"], "conf": r["conf"]}
            for r in rows
            if not r["correct"]
        ],
    }


def evaluate(
    photos: Sequence[Photo], reader: PlateReader, vehicles: OpenVinoYolo, progress: bool = True
) -> dict[str, object]:
    rows: list[dict[str, object]] = []
    spent = 0.0
    on_vehicles = 0.0
    for n, photo in enumerate(photos, start=1):
        image = cv2.imread(str(photo.image), cv2.IMREAD_COLOR)
        if image is None:
            raise EvalError(f"{photo.image}: not a readable image")
        start = time.perf_counter()
        det = vehicles.detect([pad_square(image)])[0]
        order = np.argsort(-det.conf)
        between = time.perf_counter()
        found = read_photo(image, det.xyxy[order], reader)
        spent += time.perf_counter() - start
        on_vehicles += between - start
        for label in photo.labels:
            hit = match(label, found)
            text = hit.text if hit is not None else None
            rows.append(
                {
                    "file": photo.image.name,
                    "truth": label.text,
                    "read": text.text if text is not None else None,
                    "conf": text.conf if text is not None else None,
                    "correct": text is not None and text.text == label.text,
                }
            )
        if progress and (n % 10 == 0 or n == len(photos)):
            print(f"plates eval: {n}/{len(photos)} photos", file=sys.stderr, flush=True)
    result = summarise(rows, spent)
    result["ms_vehicle_detection_per_photo"] = round(1000 * on_vehicles / len(photos), 1)
    result["photos"] = len(photos)
    return result


def render(result: dict[str, object]) -> str:
    lines = [
        f"plates: {result['plates']}  read exactly: {result['correct']}  "
        f"accuracy: {result['exact_accuracy']}",
        f"held-out halves (photos in name order): even {result['even_accuracy']}, "
        f"odd {result['odd_accuracy']}",
        f"plates found at the labelled place: {result['found']}",
        f"ms per plate: {result['ms_per_plate']} (vehicle detection included: "
        f"{result['ms_vehicle_detection_per_photo']} ms per photo)",
        "character confusions (true -> read, '-' = missing or extra):",
    ]
    confusions = result["confusions"]
    assert isinstance(confusions, list)
    lines += [f"  {c['truth']} -> {c['read']}: {c['count']}" for c in confusions] or ["  none"]
    misreads = result["misreads"]
    assert isinstance(misreads, list)
    lines.append("misreads:")
    lines += [f"  {m['file']}: {m['truth']} read {m['read']}" for m in misreads] or ["  none"]
    return "\n".join(lines)


def build_vehicle_detector(settings: PlatesSettings) -> OpenVinoYolo:
    spec, folder = resolve(
        settings.vehicle_model,
        settings.model_mirror,
        settings.data_dir / "models",
        settings.model_download,
    )
    detector = OpenVinoYolo(
        folder / spec.files[0].name,
        YoloOptions(imgsz=640, batch=1, class_ids=VEHICLE_CLASSES, streams=1, requests=1),
    )
    detector.start()
    return detector


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="civicsight eval plates", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("dir", type=Path, help="folder of NAME.jpg + NAME.txt labelled photos")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--regions", help="plate regions or groups (default: CIVICSIGHT_PLATE_REGIONS)"
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N photos")
    args = parser.parse_args(argv)
    try:
        photos = load_folder(args.dir)
    except EvalError as err:
        parser.error(str(err))
    if args.limit > 0:
        photos = photos[: args.limit]
    overrides = {"plate_regions": args.regions} if args.regions else {}
    settings = PlatesSettings(**overrides)
    reader = build_reader(settings)
    vehicles = build_vehicle_detector(settings)
    try:
        result = evaluate(photos, reader, vehicles)
    except EvalError as err:
        print(f"civicsight eval plates: error: {err}", file=sys.stderr)
        return 2
    finally:
        reader.close()
        vehicles.close()
    result["folder"] = str(args.dir)
    result["regions"] = settings.plate_regions
    print(json.dumps(result) if args.json else render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
