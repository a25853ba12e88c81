"""Detect + track service: frames -> batched detection -> ByteTrack -> detections and crops."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from pydantic import Field

from civicsight.bus import KafkaPublisher, KafkaSubscriber, Publisher, Received, stop_on_signals
from civicsight.cameras import load_cameras
from civicsight.events import Box, Crop, Frame, FrameDetections
from civicsight.images import decode_jpeg
from civicsight.logs import setup_logging
from civicsight.settings import HubSettings
from models.registry import resolve
from models.runtimes.openvino_yolo import OpenVinoYolo, YoloOptions
from models.runtimes.yolo_decode import Detections
from services.detect.logic import ChosenCrop, CropSelector, run_base
from services.detect.tracking import ByteTrack, Tracker

log = logging.getLogger("detect")
COCO_TRACKED = {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}


class DetectSettings(HubSettings):
    model: str = Field("yolov8n-int8-openvino", description="detector name in models/registry.yaml")
    model_mirror: Path | None = Field(None, description="offline model folder (mirror)")
    model_download: bool = Field(False, description="download missing models from their source")
    imgsz: int = Field(640, ge=128, le=1280, description="network input long side, pixels")
    conf: float = Field(0.25, gt=0, lt=1, description="minimum detection confidence")
    batch_max: int = Field(8, ge=1, le=64, description="frames per inference batch (at most)")
    batch_wait_ms: int = Field(40, ge=1, le=1000, description="longest wait to fill a batch")
    crop_interval_s: float = Field(1.0, gt=0, description="about one crop per track this often")
    camera_fps: float = Field(5.0, gt=0, description="expected frame rate (tracker memory)")
    cameras_dir: Path = Field(Path("config/cameras"), description="folder of camera YAML files")


def decode(frame: Frame) -> np.ndarray | None:
    return decode_jpeg(frame.jpeg)


class DetectPipeline:
    """Frames in, FrameDetections and Crops out; shared by the service and the benchmark."""

    def __init__(
        self, detector: OpenVinoYolo, model_label: str, camera_fps: float, crop_interval: float
    ) -> None:
        self.detector = detector
        self.model_label = model_label
        self.camera_fps = camera_fps
        self.crops = CropSelector(crop_interval)
        self.trackers: dict[str, Tracker] = {}
        self.id_base = run_base(time.time())

    def run(
        self, batches: Iterator[list[tuple[Frame, np.ndarray]]]
    ) -> Iterator[tuple[list[FrameDetections], list[Crop]]]:
        """Per input batch: its detections (in frame order) and the crops chosen meanwhile."""
        held: deque[list[tuple[Frame, np.ndarray]]] = deque()

        def images() -> Iterator[list[np.ndarray]]:
            for batch in batches:
                held.append(batch)
                yield [im for _, im in batch]

        for found in self.detector.detect_batches(images()):
            batch = held.popleft()
            out: list[FrameDetections] = []
            crops: list[Crop] = []
            for (frame, image), det in zip(batch, found, strict=True):
                fd, chosen = self._track(frame, image, det)
                out.append(fd)
                crops.extend(encode_crop(c) for c in chosen)
            yield out, crops

    def _track(
        self, frame: Frame, image: np.ndarray, det: Detections
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


def build_pipeline(settings: DetectSettings) -> DetectPipeline:
    spec, folder = resolve(
        settings.model, settings.model_mirror, settings.data_dir / "models", settings.model_download
    )
    detector = OpenVinoYolo(
        folder / spec.files[0].name,
        YoloOptions(imgsz=settings.imgsz, batch=settings.batch_max, conf=settings.conf),
    )
    detector.start()
    return DetectPipeline(detector, spec.label, settings.camera_fps, settings.crop_interval_s)


def main() -> None:
    settings = DetectSettings()
    setup_logging(settings.log_level)
    pipeline = build_pipeline(settings)
    stop = stop_on_signals()
    bus = KafkaPublisher(settings.kafka_config(), "detect")
    sub = KafkaSubscriber(settings.kafka_config(), "detect", ["frames"], bus, offset_reset="latest")
    skip = {c.id for c in load_cameras(settings.cameras_dir) if not c.analytics.detect}
    pool = ThreadPoolExecutor(2, thread_name_prefix="decode")
    in_flight: deque[list[Received]] = deque()
    log.info(
        "detect ready: %s, input %d px, batches of up to %d frames / %d ms",
        pipeline.model_label,
        settings.imgsz,
        settings.batch_max,
        settings.batch_wait_ms,
    )

    def batches() -> Iterator[list[tuple[Frame, np.ndarray]]]:
        while not stop.is_set():
            received = sub.poll_batch(settings.batch_max, settings.batch_wait_ms / 1000)
            sub.done(r for r in received if r.key in skip)  # detection is off there
            received = [r for r in received if r.key not in skip]
            good: list[Received] = []
            batch: list[tuple[Frame, np.ndarray]] = []
            for rec, image in zip(
                received, pool.map(lambda r: decode(r.event), received), strict=True
            ):
                if image is None:
                    sub.dead_letter(rec.message, "frame JPEG cannot be decoded")
                    continue
                assert isinstance(rec.event, Frame)
                good.append(rec)
                batch.append((rec.event, image))
            in_flight.append(good)
            yield batch

    publisher: Publisher = bus
    try:
        for detections, crops in pipeline.run(batches()):
            done = in_flight.popleft()
            for fd in detections:
                publisher.publish("detections", fd.camera_id, fd)
            for crop in crops:
                publisher.publish("crops", crop.camera_id, crop)
            if done:
                publisher.flush(30)
                sub.done(done)
    finally:
        pool.shutdown()
        sub.close()
        bus.close()
        pipeline.detector.close()


if __name__ == "__main__":
    main()
