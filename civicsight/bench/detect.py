"""``civicsight bench detect --json``: the detect service's batched path against the plain
ultralytics ``predict`` loop and against the bare batched forward pass of the same compiled
model, on the same JPEG frames, in one run.

- ``baseline``: ultralytics ``YOLO(...).predict`` frame by frame (decode included);
- ``service``: the service's pipeline (decode, batched detection, tracking, crops);
- ``forward``: the same compiled model, batch size and input size, fed prepared tensors
  through the same infer requests: no decoding, letterboxing, box decoding or tracking.
  What this CPU gives this model; ``service_share_of_forward`` says how close the service is.

Rounds of the three alternate (baseline, service, forward, baseline, ...), each in a fresh
process (so no runtime's idle worker threads slow another), and the median of each is
reported, so a busy machine slows all alike. Capture-to-store latency on a running hub is
``civicsight bench latency``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

from civicsight.bench.output import cpu_info, emit
from civicsight.events import Frame
from civicsight.images import decode_jpeg
from civicsight.services.detect.pipeline import COCO_TRACKED, build_pipeline, openvino_model
from civicsight.services.detect.settings import DetectSettings

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")
REPEATS = 3  # timed passes over the frames in each process; their median counts
WORKERS = ("baseline", "service", "forward")
VIDEOS = ("car-detection.mp4", "one-by-one-person-detection.mp4", "people-detection.264")


def sample_frames(media: Path, per_video: int, step: int) -> list[Frame]:
    frames: list[Frame] = []
    for cam, name in enumerate(VIDEOS):
        cap = cv2.VideoCapture(str(media / name))
        i = 0
        while len(frames) < (cam + 1) * per_video:
            ok, image = cap.read()
            if not ok:
                break
            if i % step == 0:
                jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
                frames.append(
                    Frame(
                        camera_id=f"cam{cam}",
                        seq=i,
                        captured_at=time.time(),
                        width=image.shape[1],
                        height=image.shape[0],
                        jpeg=jpeg,
                    )
                )
            i += 1
        cap.release()
    return frames


def run_baseline(model_dir: Path, frames: list[Frame]) -> float:
    from ultralytics import YOLO

    model = YOLO(str(model_dir), task="detect")
    model.predict(decode_jpeg(frames[0].jpeg), verbose=False)

    def once() -> float:
        start = time.perf_counter()
        for f in frames:
            model.predict(decode_jpeg(f.jpeg), verbose=False)
        return len(frames) / (time.perf_counter() - start)

    return statistics.median(once() for _ in range(REPEATS))


def run_service(settings: DetectSettings, frames: list[Frame]) -> float:
    """Frames/s through the service's pipeline (decode, batched detection, tracking,
    crops), without the broker."""
    pipeline = build_pipeline(settings)
    size = settings.batch_max

    def batches() -> Iterator[list[Frame]]:
        for i in range(0, len(frames), size):
            yield frames[i : i + size]

    for _ in pipeline.run(batches()):  # warm-up: compiles the input shape
        pass

    def once() -> float:
        start = time.perf_counter()
        n = sum(len(out.detections) for out in pipeline.run(batches()))
        return n / (time.perf_counter() - start)

    fps = statistics.median(once() for _ in range(REPEATS))
    pipeline.detector.close()
    return fps


def run_forward(settings: DetectSettings, frames: list[Frame]) -> float:
    """Frames/s of the bare batched forward pass: the service's compiled model and batch
    size, over the same frames prepared beforehand (one tensor per batch)."""
    from itertools import groupby

    model, _ = openvino_model(settings)
    model.start()
    images = [im for im in (decode_jpeg(f.jpeg) for f in frames) if im is not None]
    tensors = []
    for _, group in groupby(images, key=lambda im: im.shape):  # one aspect ratio per tensor
        same = list(group)
        for i in range(0, len(same), settings.batch_max):
            tensors.append(model.input_tensor(same[i : i + settings.batch_max]))
    model.forward(tensors)  # warm-up: compiles the input shapes

    def once() -> float:
        start = time.perf_counter()
        return model.forward(tensors) / (time.perf_counter() - start)

    fps = statistics.median(once() for _ in range(REPEATS))
    model.close()
    return fps


def labelled_counts(settings: DetectSettings, model_dir: Path, media: Path) -> dict[str, object]:
    """Boxes found on the hand-labelled sample images by both paths, against the labels."""
    import yaml
    from ultralytics import YOLO

    labels = yaml.safe_load((REPO / "tests/fixtures/detect_labels.yaml").read_text())["images"]
    model, _ = openvino_model(settings)
    model.start()
    baseline = YOLO(str(model_dir), task="detect")
    out: dict[str, int] = {"labels": 0, "service": 0, "baseline": 0}
    for item in labels:
        image = load_labelled_image(media, item)
        out["labels"] += sum(item["counts"].values())
        out["service"] += len(model.detect([image])[0])
        out["baseline"] += sum(int(c) in COCO_TRACKED for c in reference_classes(baseline, image))
    model.close()
    return dict(out)


def reference_classes(model: Any, image: np.ndarray) -> list[int]:
    """COCO class ids that the plain ultralytics pipeline finds in ``image``."""
    results = list(model.predict(image, verbose=False))
    boxes = results[0].boxes
    return [] if boxes is None else [int(c) for c in boxes.cls.tolist()]


def load_labelled_image(media: Path, item: dict[str, object]) -> np.ndarray:
    """A labelled image: a still (``file``) or one frame of a video (``file`` + ``frame``)."""
    path = media / str(item["file"])
    if "frame" not in item:
        image = cv2.imread(str(path))
    else:
        cap = cv2.VideoCapture(str(path))
        image = None
        for _ in range(int(str(item["frame"])) + 1):
            ok, image = cap.read()
            if not ok:
                image = None
                break
        cap.release()
    if image is None:
        raise FileNotFoundError(f"cannot read {path} frame {item.get('frame')}")
    return image


def quietly(fn: Callable[..., T], *args: object) -> T:
    with contextlib.redirect_stdout(sys.stderr):  # ultralytics prints to stdout
        return fn(*args)


def measure_in_child(which: str, frames_per_video: int) -> float:
    """Frames/s of ``which`` (one of ``WORKERS``), measured in a fresh interpreter."""
    import subprocess

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "civicsight.bench.detect",
            "--worker",
            which,
            "--frames-per-video",
            str(frames_per_video),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


def worker(which: str, frames_per_video: int) -> None:
    settings = DetectSettings()
    from civicsight.models.registry import resolve

    _, model_dir = resolve(settings.model, settings.model_mirror, settings.data_dir / "models")
    frames = sample_frames(media_root(), frames_per_video, step=7)
    with contextlib.redirect_stdout(sys.stderr):  # ultralytics prints to stdout
        if which == "baseline":
            fps = run_baseline(model_dir, frames)
        elif which == "service":
            fps = run_service(settings, frames)
        else:
            fps = run_forward(settings, frames)
    print(fps)


def media_root() -> Path:
    return Path(os.environ.get("CIVICSIGHT_MEDIA_MIRROR", REPO.parent / "shared" / "media"))


def main() -> None:
    parser = argparse.ArgumentParser(prog="civicsight bench detect", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    parser.add_argument(
        "--frames-per-video",
        type=int,
        default=96,
        help="frames from each sample video (every 7th); short passes measure pipeline fill "
        "and drain more than the steady state a running service is in",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    if args.worker:
        worker(args.worker, args.frames_per_video)
        return
    settings = DetectSettings()
    media = media_root()
    from civicsight.models.registry import resolve

    spec, model_dir = resolve(settings.model, settings.model_mirror, settings.data_dir / "models")
    frames = sample_frames(media, args.frames_per_video, step=7)
    fps: dict[str, list[float]] = {w: [] for w in WORKERS}
    for r in range(args.rounds):
        for which in WORKERS:
            print(f"round {r + 1}/{args.rounds}: {which} ...", file=sys.stderr, flush=True)
            fps[which].append(measure_in_child(which, args.frames_per_video))
    median = {w: statistics.median(v) for w, v in fps.items()}
    result: dict[str, object] = {
        "service_fps": round(median["service"], 1),
        "baseline_fps": round(median["baseline"], 1),
        "forward_fps": round(median["forward"], 1),
        "ratio": round(median["service"] / median["baseline"], 2),
        "service_share_of_forward": round(median["service"] / median["forward"], 3),
        "rounds": {f"{w}_fps": [round(x, 1) for x in v] for w, v in fps.items()},
        "frames": len(frames),
        "frame_size": f"{frames[0].width}x{frames[0].height}",
        "imgsz": settings.imgsz,
        "batch": settings.batch_max,
        "cpu": cpu_info(),
        "model": spec.label,
        "labelled_boxes": quietly(labelled_counts, settings, model_dir, media),
    }
    emit(result, args.json, args.out)


if __name__ == "__main__":
    main()
