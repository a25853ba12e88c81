"""Re-identification accuracy on a video: ``civicsight eval reid VIDEO``.

Persons (the default, ``--kind person``) are found with the hub's detector in every
``--stride``-th frame and grouped by the fact that they pass one at a time, as in
``one-by-one-person-detection.mp4``: a person seen again within ``--gap-s`` seconds is
the same walker, a longer gap with no one in view starts the next. That grouping is
ground truth for such a video, whereas a tracker's id switches and lost tracks would be
counted as re-ID errors. (A frame with more than one person breaks the assumption; their
number is reported and only the most confident person is used.)

Vehicles (``--kind vehicle``) are grouped by linking boxes that overlap (IoU >= 0.3)
within ``--gap-s`` seconds; a car lost for longer starts a new group, so re-ID is
measured against a split truth there (a lower bound).

Each group is cut in time into two tracks (first and second half). Every crop that
passes the service's quality gate is embedded the way the service does it, and:

- rank-1: each crop queries a gallery of all crops of the *other* tracks; it is right
  when the most similar one shows the same walker (queries whose walker has no other
  track are not counted);
- same: cosines of crop pairs of the same walker from different tracks; different:
  pairs of different walkers (mean, std, min, max);
- ms per crop: embedding time (resize and inference), detection not included.

Prints a summary, or one JSON object with ``--json``. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydantic import ValidationError

from civicsight.models.appearance import (
    Route,
    build_person_embedder,
    build_vehicle_model,
    colour_histogram,
    vehicle_vectors,
)
from civicsight.models.registry import ModelUnavailableError, resolve
from civicsight.models.runtimes.openvino_yolo import OpenVinoYolo, YoloOptions
from civicsight.models.runtimes.torchreid_osnet import WeightsError
from civicsight.models.runtimes.vehicle_attributes import COLOURS, TYPES
from civicsight.services.reid.logic import QualityParams, cosine_stats, crop_quality, vehicle_label
from civicsight.services.reid.settings import ReidSettings

CLASS_IDS = {"person": (0,), "vehicle": (2, 3, 5, 7)}  # COCO
COCO_NAMES = {0: "person", 2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}
LINK_IOU = 0.3
SAME_OBJECT_IOU = 0.7


class EvalError(ValueError):
    """A video that cannot be evaluated."""


@dataclass(frozen=True)
class Sighting:
    """One detected object in one sampled frame."""

    frame: int
    t: float  # seconds into the video
    box: tuple[float, float, float, float]
    conf: float
    cls: str
    pixels: np.ndarray


def open_video(path: Path) -> tuple[cv2.VideoCapture, float]:
    if not path.exists():
        raise EvalError(f"{path}: no such file")
    if not path.is_file():
        raise EvalError(f"{path}: not a file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise EvalError(f"{path}: not a video OpenCV can read")
    fps = cap.get(cv2.CAP_PROP_FPS)
    return cap, fps if fps and fps > 0 else 25.0


def sampled_frames(
    cap: cv2.VideoCapture, stride: int, max_frames: int
) -> Iterator[tuple[int, np.ndarray]]:
    index = 0
    while max_frames <= 0 or index < max_frames:
        ok, image = cap.read()
        if not ok:
            return
        if index % stride == 0:
            yield index, image
        index += 1


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def group_one_at_a_time(sightings: Sequence[Sighting], gap_s: float) -> list[int]:
    """Walker number per sighting (in time order): a gap over ``gap_s`` starts the next."""
    groups: list[int] = []
    last_t: float | None = None
    current = -1
    for s in sightings:
        if last_t is None or s.t - last_t > gap_s:
            current += 1
        groups.append(current)
        last_t = s.t
    return groups


def group_by_overlap(sightings: Sequence[Sighting], gap_s: float) -> list[int]:
    """Group per sighting (in time order): linked to the best-overlapping open group seen
    within ``gap_s`` (IoU >= 0.3, one sighting per group and frame), else a new group."""
    last: list[tuple[float, tuple[float, float, float, float], int]] = []  # t, box, frame
    groups: list[int] = []
    for s in sightings:
        best, best_iou = -1, LINK_IOU
        for g, (t, box, frame) in enumerate(last):
            if frame == s.frame or s.t - t > gap_s:
                continue
            overlap = iou(s.box, box)
            if overlap >= best_iou:
                best, best_iou = g, overlap
        if best < 0:
            last.append((s.t, s.box, s.frame))
            best = len(last) - 1
        else:
            last[best] = (s.t, s.box, s.frame)
        groups.append(best)
    return groups


def split_halves(groups: Sequence[int]) -> list[int]:
    """Track per sighting: each group's first half in time is track 2g, the rest 2g+1."""
    sizes = Counter(groups)
    seen: Counter[int] = Counter()
    tracks: list[int] = []
    for g in groups:
        tracks.append(2 * g + (1 if seen[g] >= (sizes[g] + 1) // 2 else 0))
        seen[g] += 1
    return tracks


def reid_metrics(
    vectors: np.ndarray, identities: Sequence[int], tracks: Sequence[int]
) -> dict[str, object]:
    """rank-1 against the other tracks' crops, and same/different cosine statistics."""
    ident = np.asarray(identities)
    track = np.asarray(tracks)
    sims = vectors @ vectors.T
    other_track = track[:, None] != track[None, :]
    same_ident = ident[:, None] == ident[None, :]
    upper = np.triu(np.ones_like(other_track), 1)
    hits = queries = 0
    for q in range(len(ident)):
        gallery = np.flatnonzero(other_track[q])
        if gallery.size == 0 or not same_ident[q, gallery].any():
            continue
        queries += 1
        hits += bool(ident[gallery[np.argmax(sims[q, gallery])]] == ident[q])
    return {
        "rank1": round(hits / queries, 4) if queries else None,
        "rank1_queries": queries,
        "same": cosine_stats(sims[upper & other_track & same_ident]),
        "different": cosine_stats(sims[upper & ~same_ident]),
    }


def detect_sightings(
    video: Path,
    detector: OpenVinoYolo,
    kind: str,
    stride: int,
    max_frames: int,
    progress: bool,
) -> tuple[list[Sighting], int, int, tuple[int, int]]:
    """Sightings in time order, frames sampled, frames with several persons, frame size."""
    cap, fps = open_video(video)
    sightings: list[Sighting] = []
    sampled = several = 0
    size = (0, 0)
    batch: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        nonlocal several
        for (index, image), det in zip(
            batch, detector.detect([im for _, im in batch]), strict=True
        ):
            order = [int(i) for i in np.argsort(-det.conf)]
            if kind == "person":
                several += len(order) > 1
                order = order[:1]
            taken: list[tuple[float, float, float, float]] = []
            for i in order:
                x1, y1, x2, y2 = (float(v) for v in det.xyxy[i])
                if any(iou((x1, y1, x2, y2), other) > SAME_OBJECT_IOU for other in taken):
                    continue  # the same vehicle again under another class (car and truck)
                taken.append((x1, y1, x2, y2))
                pixels = image[max(0, round(y1)) : round(y2), max(0, round(x1)) : round(x2)]
                if pixels.size:
                    sightings.append(
                        Sighting(
                            index,
                            index / fps,
                            (x1, y1, x2, y2),
                            float(det.conf[i]),
                            COCO_NAMES[int(det.class_id[i])],
                            pixels.copy(),
                        )
                    )
        batch.clear()

    try:
        for index, image in sampled_frames(cap, stride, max_frames):
            size = (image.shape[1], image.shape[0])
            sampled += 1
            batch.append((index, image))
            if len(batch) == detector.options.batch:
                flush()
            if progress and sampled % 50 == 0:
                print(f"reid eval: {sampled} frames, {len(sightings)} crops", file=sys.stderr)
        if batch:
            flush()
    finally:
        cap.release()
    if sampled == 0:
        raise EvalError(f"{video}: no frames could be read")
    return sightings, sampled, several, size


def evaluate(
    video: Path,
    settings: ReidSettings,
    detector: OpenVinoYolo,
    kind: str = "person",
    stride: int = 5,
    max_frames: int = 0,
    gap_s: float = 2.0,
    progress: bool = True,
) -> dict[str, object]:
    sightings, sampled, several, frame_size = detect_sightings(
        video, detector, kind, stride, max_frames, progress
    )
    params = QualityParams(sharp_ref=settings.reid_sharp_ref)
    route: Route = "person" if kind == "person" else "vehicle"
    grouped = (group_one_at_a_time if kind == "person" else group_by_overlap)(sightings, gap_s)
    good = [
        crop_quality(s.pixels, s.box, route, frame_size, params).value >= settings.reid_min_quality
        for s in sightings
    ]  # grouped before the quality gate: presence, not quality, tells walkers apart
    kept = [s for s, ok in zip(sightings, good, strict=True) if ok]
    groups = [g for g, ok in zip(grouped, good, strict=True) if ok]
    tracks = split_halves(groups)
    if progress:
        print(
            f"reid eval: embedding {len(kept)} crops ({len(sightings) - len(kept)} below "
            f"quality {settings.reid_min_quality})",
            file=sys.stderr,
        )
    result: dict[str, object] = {"video": str(video), "kind": kind}
    images = [s.pixels for s in kept]
    if kind == "person":
        embedder, label = build_person_embedder(settings)
        try:
            embedder.embed(images[:1])  # warm-up: first inference compiles kernels
            start = time.perf_counter()
            vectors = embedder.embed(images) if images else np.zeros((0, embedder.dim))
            spent = time.perf_counter() - start
        finally:
            embedder.close()
    else:
        model, label = build_vehicle_model(settings)
        try:
            model.analyse(images[:1])
            start = time.perf_counter()
            attrs = model.analyse(images)
            hists = (
                np.stack([colour_histogram(p) for p in images]) if images else np.zeros((0, 128))
            )
            vectors = vehicle_vectors(attrs.trunk, hists)
            spent = time.perf_counter() - start
        finally:
            model.close()
        labels = [
            vehicle_label(s.cls, attrs.colour[i], attrs.type[i], COLOURS, TYPES)
            for i, s in enumerate(kept)
        ]
        result["colours"] = dict(Counter(lab.colour for lab in labels).most_common())
        result["types"] = dict(Counter(str(lab.type) for lab in labels).most_common())
    result.update(
        {
            "model": label,
            "grouping": "one at a time" if kind == "person" else "box overlap",
            "frames": sampled,
            "stride": stride,
            "frames_with_several": several,
            "crops": len(kept),
            "skipped_low_quality": len(sightings) - len(kept),
            "min_quality": settings.reid_min_quality,
            "identities": len(set(groups)),
            "tracks": len(set(tracks)),
            **reid_metrics(vectors, groups, tracks),
            "ms_per_crop": round(1000 * spent / len(kept), 2) if kept else None,
        }
    )
    return result


def render(r: dict[str, object]) -> str:
    def stats(name: str) -> str:
        s = r[name]
        assert isinstance(s, dict)
        if not s["n"]:
            return f"{name}: no pairs"
        return (
            f"{name} cosine: mean {s['mean']:.3f}, std {s['std']:.3f}, "
            f"min {s['min']:.3f}, max {s['max']:.3f} ({s['n']} pairs)"
        )

    lines = [
        f"{r['video']} ({r['kind']}s, {r['model']})",
        f"frames sampled: {r['frames']} (every {r['stride']}th), crops: {r['crops']} "
        f"({r['skipped_low_quality']} below quality {r['min_quality']})",
        f"{r['identities']} identities ({r['grouping']}), {r['tracks']} tracks",
        f"rank-1: {r['rank1']} ({r['rank1_queries']} queries against the other tracks)",
        stats("same"),
        stats("different"),
        f"ms per crop: {r['ms_per_crop']} (embedding only)",
    ]
    if "random-init" in str(r["model"]):
        lines.append("warning: random weights: these figures say nothing about the model")
    if r.get("frames_with_several"):
        lines.append(f"warning: {r['frames_with_several']} frames showed several persons")
    if "colours" in r:
        lines.append(f"colours: {r['colours']}, types: {r['types']}")
    return "\n".join(lines)


def build_detector(name: str, settings: ReidSettings, kind: str) -> OpenVinoYolo:
    spec, folder = resolve(
        name, settings.model_mirror, settings.data_dir / "models", settings.model_download
    )
    detector = OpenVinoYolo(
        folder / spec.files[0].name,
        YoloOptions(imgsz=640, batch=4, class_ids=CLASS_IDS[kind], streams=1, requests=2),
    )
    detector.start()
    return detector


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="civicsight eval reid", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("video", type=Path, help="video file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--kind", choices=sorted(CLASS_IDS), default="person")
    parser.add_argument("--stride", type=int, default=5, help="use every Nth frame (default 5)")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0: all)")
    parser.add_argument(
        "--gap-s", type=float, default=2.0, help="seconds unseen that end a group (default 2)"
    )
    parser.add_argument("--model", help="person re-ID model (default: CIVICSIGHT_REID_MODEL)")
    parser.add_argument("--min-quality", type=float, help="default: CIVICSIGHT_REID_MIN_QUALITY")
    parser.add_argument("--detector", default="yolov8n-int8-openvino", help="registry name")
    args = parser.parse_args(argv)
    if args.stride < 1:
        parser.error("--stride must be at least 1")
    try:
        open_video(args.video)[0].release()
    except EvalError as err:
        parser.error(str(err))
    overrides: dict[str, object] = {}
    if args.model:
        overrides["reid_model"] = args.model
    if args.min_quality is not None:
        overrides["reid_min_quality"] = args.min_quality
    try:
        settings = ReidSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        parser.error(str(err))
    try:
        detector = build_detector(args.detector, settings, args.kind)
    except ModelUnavailableError as err:
        print(f"civicsight eval reid: error: {err}", file=sys.stderr)
        return 2
    try:
        result = evaluate(
            args.video, settings, detector, args.kind, args.stride, args.max_frames, args.gap_s
        )
    except (EvalError, ModelUnavailableError, WeightsError) as err:
        print(f"civicsight eval reid: error: {err}", file=sys.stderr)
        return 2
    finally:
        detector.close()
    print(json.dumps(result) if args.json else render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
