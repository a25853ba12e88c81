"""``civicsight bench gpu``: the torch detection path on a GPU (or the CPU, for a smoke run).

Three numbers from one run on the same 1080p JPEG frames and the same model: frames/s
end to end through the service's batched path (JPEG bytes in, boxes out: nvJPEG decode,
letterbox, fp16 inference, NMS, one copy back per batch), frames/s of the plain ultralytics
``predict`` loop (one decoded frame per call), and images/s of the bare batched forward
pass. The default model is YOLO11n built from its YAML with random weights: a speed test
only, never an accuracy claim.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from bench.output import emit
from models.runtimes.torch_yolo import TorchYolo, TorchYoloOptions

REPO = Path(__file__).resolve().parents[1]


def frames_1080p(media: Path, distinct: int) -> list[bytes]:
    cap = cv2.VideoCapture(str(media / "one-by-one-person-detection.mp4"))
    out: list[bytes] = []
    i = 0
    while len(out) < distinct:
        ok, image = cap.read()
        if not ok:
            break
        if i % 10 == 0:
            big = cv2.resize(image, (1920, 1080), interpolation=cv2.INTER_LINEAR)
            out.append(cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
        i += 1
    if not out:
        raise SystemExit(f"no frames read from {media}")
    return out


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(prog="civicsight bench gpu", description=__doc__)
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:N or cpu")
    parser.add_argument("--weights", default="yolo11n.yaml", help=".pt file or model YAML")
    parser.add_argument("--frames", type=int, default=4096, help="frames through the service")
    parser.add_argument("--baseline-frames", type=int, default=300)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    media = Path(os.environ.get("CIVICSIGHT_MEDIA_MIRROR", REPO.parent / "shared" / "media"))
    jpegs = frames_1080p(media, 32)
    with contextlib.redirect_stdout(sys.stderr):
        det = TorchYolo(args.weights, args.device, TorchYoloOptions(imgsz=640))
        det.start()
    dev = det.device
    batches = [
        [jpegs[(i + k) % len(jpegs)] for k in range(args.batch)]
        for i in range(0, args.frames, args.batch)
    ]
    det.detect_jpegs(batches[0])  # warm-up (cudnn autotune)
    sync(dev)
    start = time.perf_counter()
    n = sum(len(det.detect_jpegs(b)) for b in batches)
    sync(dev)
    service_fps = n / (time.perf_counter() - start)

    dtype = torch.float16 if dev.startswith("cuda") else torch.float32
    x = torch.rand(args.batch, 3, 640, 640, device=dev, dtype=dtype)
    with torch.inference_mode():
        det.forward(x)
        sync(dev)
        reps = max(2, args.frames // args.batch)
        start = time.perf_counter()
        for _ in range(reps):
            det.forward(x)
        sync(dev)
    forward_fps = reps * args.batch / (time.perf_counter() - start)

    from ultralytics import YOLO

    with contextlib.redirect_stdout(sys.stderr):
        plain = YOLO(args.weights, task="detect")
        decoded = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR) for j in jpegs]
        half = dev.startswith("cuda")
        plain.predict(decoded[0], device=dev, half=half, verbose=False)
        start = time.perf_counter()
        for i in range(args.baseline_frames):
            img = cv2.imdecode(np.frombuffer(jpegs[i % len(jpegs)], np.uint8), cv2.IMREAD_COLOR)
            plain.predict(img, device=dev, half=half, verbose=False)
        sync(dev)
    baseline_fps = args.baseline_frames / (time.perf_counter() - start)
    result = {
        "service_fps": round(service_fps, 1),
        "baseline_fps": round(baseline_fps, 1),
        "ratio": round(service_fps / baseline_fps, 2),
        "forward_fps": round(forward_fps, 1),
        "service_share_of_forward": round(service_fps / forward_fps, 3),
        "frames": n,
        "frame_size": "1920x1080",
        "batch": args.batch,
        "device": torch.cuda.get_device_name(dev) if dev.startswith("cuda") else "cpu",
        "model": args.weights,
        "weights": "random (speed only)" if args.weights.endswith(".yaml") else args.weights,
    }
    emit(result, args.json, args.out)


if __name__ == "__main__":
    main()
