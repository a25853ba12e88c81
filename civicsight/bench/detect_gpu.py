"""``civicsight bench detect --device cuda`` (also ``bench gpu``): the torch detection path.

Numbers from one run on the same 1080p JPEG frames and the same model:

- ``service_fps``: frames/s end to end through the service's batched path
  (``TorchYolo.detect_stream``: JPEG bytes in, boxes out; nvJPEG decode and letterbox of the
  next batch overlapped with fp16 inference, one NMS and one copy back per batch);
- ``baseline_fps``: the plain ultralytics ``predict`` loop (one decoded frame per call);
- ``forward_fps``: images/s of the bare batched forward pass on a ready 640x640 batch (the
  reference the issue names), and ``forward_rect_fps`` on the service's 640x384 input;
- ``decode_fps``: JPEG decoding alone, to show where the time goes.

Frames: 1920x1080 mosaics of native-resolution tiles of the sample video, JPEG quality 85,
so their size and entropy are those of a real 1080p camera frame (an upscaled frame would
compress, and decode, unrealistically well). The default model is YOLO11n built from its
YAML with random weights: a speed test only, never an accuracy claim. With random weights
hardly any box passes the confidence threshold, so NMS costs less than on a busy street.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from civicsight.bench.output import emit
from civicsight.models.runtimes.torch_yolo import TorchYolo, TorchYoloOptions

REPO = Path(__file__).resolve().parents[2]
W, H = 1920, 1080


def frames_1080p(media: Path, distinct: int) -> list[bytes]:
    """``distinct`` 1080p JPEGs, each a mosaic of native-resolution video frames."""
    cap = cv2.VideoCapture(str(media / "one-by-one-person-detection.mp4"))
    tiles: list[np.ndarray] = []
    i = 0
    while len(tiles) < distinct + 8:
        ok, image = cap.read()
        if not ok:
            break
        if i % 7 == 0:
            tiles.append(image)
        i += 1
    if not tiles:
        raise SystemExit(f"no frames read from {media}")
    th, tw = tiles[0].shape[:2]
    out: list[bytes] = []
    for n in range(distinct):
        canvas = np.zeros((-(-H // th) * th, -(-W // tw) * tw, 3), np.uint8)
        k = n
        for y in range(0, canvas.shape[0], th):
            for x in range(0, canvas.shape[1], tw):
                canvas[y : y + th, x : x + tw] = tiles[k % len(tiles)]
                k += 1
        jpeg = cv2.imencode(".jpg", canvas[:H, :W], [cv2.IMWRITE_JPEG_QUALITY, 85])[1]
        out.append(jpeg.tobytes())
    return out


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def rate(count: int, run: Callable[[], object], device: str, repeats: int = 3) -> float:
    """Best-of-``repeats`` median-free rate: items/s of ``run`` (synchronised)."""
    rates = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        run()
        sync(device)
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(
        prog="civicsight bench detect --device cuda", description=__doc__
    )
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:N or cpu")
    parser.add_argument("--weights", default="yolo11n.yaml", help=".pt file or model YAML")
    parser.add_argument("--frames", type=int, default=4096, help="frames per timed service run")
    parser.add_argument("--baseline-frames", type=int, default=300)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--depth", type=int, default=2, help="batches decoded ahead")
    parser.add_argument("--square", action="store_true", help="640x640 input, not 640x384")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the median is kept")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    media = Path(os.environ.get("CIVICSIGHT_MEDIA_MIRROR", REPO.parent / "shared" / "media"))
    jpegs = frames_1080p(media, 64)
    with contextlib.redirect_stdout(sys.stderr):
        det = TorchYolo(
            args.weights, args.device, TorchYoloOptions(imgsz=640, rect=not args.square)
        )
        det.start()
    dev = det.device
    batches = [
        [jpegs[(i + k) % len(jpegs)] for k in range(args.batch)]
        for i in range(0, args.frames, args.batch)
    ]
    n = sum(len(b) for b in batches)
    for _ in det.detect_stream(batches[:2], args.depth):  # warm-up (cudnn autotune)
        pass

    def service() -> None:
        for _ in det.detect_stream(batches, args.depth):
            pass

    service_fps = rate(n, service, dev, args.repeats)
    serial_fps = rate(n, lambda: [det.detect_jpegs(b) for b in batches], dev, 1)
    decode_fps = rate(n, lambda: [det.decode(b) for b in batches], dev, 1)

    reps = max(2, args.frames // args.batch)
    square = torch.rand(args.batch, 3, 640, 640, device=dev, dtype=det.dtype)
    rect = det.letterbox(det.decode(batches[0]))[0]
    with torch.inference_mode():
        det.forward(square)
        det.forward(rect)
        forward_fps = rate(
            reps * args.batch, lambda: [det.forward(square) for _ in range(reps)], dev
        )
        forward_rect_fps = rate(
            reps * args.batch, lambda: [det.forward(rect) for _ in range(reps)], dev
        )

    from ultralytics import YOLO

    with contextlib.redirect_stdout(sys.stderr):
        plain = YOLO(args.weights, task="detect")
        half = dev.startswith("cuda")
        first = cv2.imdecode(np.frombuffer(jpegs[0], np.uint8), cv2.IMREAD_COLOR)
        for _ in range(3):
            plain.predict(first, device=dev, half=half, verbose=False)

        def baseline() -> None:
            for i in range(args.baseline_frames):
                img = cv2.imdecode(np.frombuffer(jpegs[i % len(jpegs)], np.uint8), cv2.IMREAD_COLOR)
                plain.predict(img, device=dev, half=half, verbose=False)

        baseline_fps = rate(args.baseline_frames, baseline, dev, 1)
    result = {
        "service_fps": round(service_fps, 1),
        "baseline_fps": round(baseline_fps, 1),
        "ratio": round(service_fps / baseline_fps, 2),
        "forward_fps": round(forward_fps, 1),
        "service_share_of_forward": round(service_fps / forward_fps, 3),
        "forward_rect_fps": round(forward_rect_fps, 1),
        "serial_fps": round(serial_fps, 1),
        "decode_fps": round(decode_fps, 1),
        "frames": n,
        "frame_size": f"{W}x{H}",
        "jpeg_kb_mean": round(sum(map(len, jpegs)) / len(jpegs) / 1024, 1),
        "input": f"{tuple(rect.shape[2:])[::-1]}" if not args.square else "(640, 640)",
        "batch": args.batch,
        "depth": args.depth,
        "repeats": args.repeats,
        "device": torch.cuda.get_device_name(dev) if dev.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "model": args.weights,
        "weights": "random (speed only)" if args.weights.endswith(".yaml") else args.weights,
    }
    emit(result, args.json, args.out)


if __name__ == "__main__":
    main()
