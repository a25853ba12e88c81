"""Frames -> batched detection -> per-camera ByteTrack -> detections and crops: the detect
service's pipeline, shared by the service and the benchmark (``civicsight bench detect``).

Batches stay in flight: the next batch's JPEGs are decoded while the previous one infers
(``detectors.py``), so ``DetectPipeline.run`` takes an iterator of batches and gives each
batch's result, in order, as soon as it is ready.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import cv2

from civicsight.events import Box, Crop, Frame, FrameDetections
from civicsight.models.registry import resolve
from civicsight.models.runtimes.openvino_yolo import OpenVinoYolo, YoloOptions
from civicsight.models.runtimes.torch_yolo import TorchYolo, TorchYoloOptions, cuda_present
from civicsight.models.runtimes.yolo_decode import Detections
from civicsight.services.detect.detectors import CpuDetector, CudaDetector, FrameDetector
from civicsight.services.detect.logic import (
    ChosenCrop,
    CropSelector,
    Image,
    choose_backend,
    run_base,
)
from civicsight.services.detect.settings import DetectSettings
from civicsight.services.detect.tracking import ByteTrack, Tracker

log = logging.getLogger("detect")
COCO_TRACKED = {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}


@dataclass(frozen=True)
class BatchOut:
    """What one input batch gave: its detections (frame order), the crops chosen
    meanwhile, the positions of frames whose JPEG could not be decoded, and the seconds
    from the batch's hand-over to the detector to its detections (decoding, waiting for
    a free inference request and inference)."""

    detections: list[FrameDetections]
    crops: list[Crop]
    undecodable: list[int]
    inference_s: float = 0.0


class DetectPipeline:
    """Frames in, FrameDetections and Crops out; shared by the service and the benchmark."""

    def __init__(
        self, detector: FrameDetector, model_label: str, camera_fps: float, crop_interval: float
    ) -> None:
        self.detector = detector
        self.model_label = model_label
        self.camera_fps = camera_fps
        self.crops = CropSelector(crop_interval)
        self.trackers: dict[str, Tracker] = {}
        self.id_base = run_base(time.time())

    def run(self, batches: Iterator[list[Frame]]) -> Iterator[BatchOut]:
        held: deque[tuple[list[Frame], float]] = deque()

        def frames() -> Iterator[list[Frame]]:
            for batch in batches:
                held.append((batch, time.perf_counter()))  # taken by the detector now
                yield batch

        for found in self.detector.detect(frames()):
            batch, handed = held.popleft()
            out = BatchOut([], [], [], time.perf_counter() - handed)
            for i, (frame, f) in enumerate(zip(batch, found, strict=True)):
                if f is None:
                    out.undecodable.append(i)
                    continue
                fd, chosen = self._track(frame, f.image, f.detections)
                out.detections.append(fd)
                out.crops.extend(encode_crop(c) for c in chosen)
            yield out

    def _track(
        self, frame: Frame, image: Image, det: Detections
    ) -> tuple[FrameDetections, list[ChosenCrop]]:
        tracker = self.trackers.get(frame.camera_id)
        if tracker is None:
            tracker = self.trackers[frame.camera_id] = ByteTrack(self.camera_fps)
        ids = tracker.update(det.xyxy, det.conf, det.class_id)
        names = [COCO_TRACKED[int(c)] for c in det.class_id]
        track_ids = [self.id_base + int(i) if i >= 0 else None for i in ids]
        fd = FrameDetections.from_arrays(
            frame,
            det.xyxy.tolist(),
            det.conf.tolist(),
            names,
            track_ids,
            self.model_label,
            time.time(),
        )
        chosen: list[ChosenCrop] = []
        for box in fd.boxes:
            if box.track_id is not None:
                chosen += self.crops.offer(
                    frame.camera_id,
                    box.track_id,
                    frame.captured_at,
                    image,
                    (box.x1, box.y1, box.x2, box.y2),
                    box.conf,
                    box.cls,
                )
        chosen += self.crops.flush(frame.camera_id, frame.captured_at)
        return fd, chosen


def encode_crop(c: ChosenCrop) -> Crop:
    ok, jpeg = cv2.imencode(".jpg", c.pixels, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise RuntimeError("crop JPEG encoding failed")
    x1, y1, x2, y2 = c.box
    box = Box(x1=x1, y1=y1, x2=x2, y2=y2, cls=c.cls, conf=c.conf, track_id=c.track_id)
    return Crop(
        camera_id=c.camera_id,
        track_id=c.track_id,
        captured_at=c.captured_at,
        box=box,
        quality=c.quality,
        jpeg=jpeg.tobytes(),
        frame_width=c.frame_size[0],
        frame_height=c.frame_size[1],
    )


def openvino_model(settings: DetectSettings) -> tuple[OpenVinoYolo, str]:
    """The CPU detector (not started) and its label."""
    spec, folder = resolve(
        settings.model, settings.model_mirror, settings.data_dir / "models", settings.model_download
    )
    model = OpenVinoYolo(
        folder / spec.files[0].name,
        YoloOptions(imgsz=settings.imgsz, batch=settings.batch_max, conf=settings.conf),
    )
    return model, spec.label


def build_pipeline(settings: DetectSettings) -> DetectPipeline:
    backend = choose_backend(
        settings.detect_device_choice, settings.torch_weights is not None, cuda_present()
    )
    detector: FrameDetector
    if backend == "torch":
        assert settings.torch_weights is not None
        model = TorchYolo(
            settings.torch_weights,
            "cuda" if settings.detect_device_choice == "auto" else settings.detect_device_choice,
            TorchYoloOptions(imgsz=settings.imgsz, conf=settings.conf),
        )
        detector, label = CudaDetector(model), f"{model.name}-torch"
    else:
        if settings.detect_device_choice == "auto" and cuda_present():
            log.warning("CUDA is present but no torch_weights are set: detecting on the CPU")
        ov, label = openvino_model(settings)
        detector = CpuDetector(ov)
    detector.start()
    log.info("detector: %s on %s", label, backend)
    return DetectPipeline(detector, label, settings.camera_fps, settings.crop_interval_s)
