"""Both detector back ends of the detect service on real frames: the CPU one (OpenVINO,
real YOLOv8n weights) and the CUDA one (run here on the CPU with random YOLO11n weights,
so only its plumbing is checked, never its accuracy)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from civicsight.events import Frame
from civicsight.images import decode_jpeg
from civicsight.models.runtimes.torch_yolo import TorchYolo, TorchYoloOptions
from civicsight.services.detect.detectors import CpuDetector, CudaDetector, FrameDetector
from civicsight.services.detect.pipeline import DetectPipeline, openvino_model
from civicsight.services.detect.settings import DetectSettings


def frame(jpeg: bytes, seq: int, w: int = 810, h: int = 1080) -> Frame:
    return Frame(camera_id="cam-a", seq=seq, captured_at=1000.0 + seq, width=w, height=h, jpeg=jpeg)


@pytest.fixture(scope="module")
def bus_jpeg(media_mirror: Path) -> bytes:
    return (media_mirror / "bus.jpg").read_bytes()


def cpu(model_mirror: Path) -> FrameDetector:
    model, _ = openvino_model(DetectSettings(model_mirror=model_mirror, batch_max=4))
    return CpuDetector(model)


def cuda_on_cpu(_: Path) -> FrameDetector:
    return CudaDetector(TorchYolo("yolo11n.yaml", "cpu", TorchYoloOptions(imgsz=320)))


@pytest.fixture(params=[cpu, cuda_on_cpu], ids=["cpu-openvino", "cuda-path-on-cpu"])
def detector(request: pytest.FixtureRequest, model_mirror: Path) -> Iterator[FrameDetector]:
    d: FrameDetector = request.param(model_mirror)
    d.start()
    yield d
    d.close()


def test_batches_keep_their_order_and_bad_frames_are_marked(
    detector: FrameDetector, bus_jpeg: bytes
) -> None:
    """Guards against one corrupt JPEG failing (or shifting) the detections of its batch."""
    batches = [[frame(bus_jpeg, 0), frame(b"\xff\xd8junk", 1)], [], [frame(bus_jpeg, 2)]]
    out = list(detector.detect(iter(batches)))
    assert [[f is None for f in b] for b in out] == [[False, True], [], [False]]
    first = out[0][0]
    assert first is not None and first.image.shape == (1080, 810, 3)


def test_pipeline_tracks_frames_and_reports_undecodable(
    model_mirror: Path, bus_jpeg: bytes
) -> None:
    """The CPU pipeline end to end: real people and a bus found on bus.jpg, a crop cut,
    the corrupt frame's position reported for the dead-letter queue."""
    d = cpu(model_mirror)
    d.start()
    try:
        pipeline = DetectPipeline(d, "yolov8n", camera_fps=5.0, crop_interval=0.5)
        frames = [frame(bus_jpeg, i) for i in range(3)] + [frame(b"\xff\xd8junk", 3)]
        outs = list(pipeline.run(iter([frames[:2], frames[2:]])))
    finally:
        d.close()
    assert [o.undecodable for o in outs] == [[], [1]]
    found = [fd for o in outs for fd in o.detections]
    assert len(found) == 3
    classes = {b.cls for b in found[-1].boxes}
    assert {"person", "bus"} <= classes
    assert all(b.track_id is not None for b in found[-1].boxes)
    crops = [c for o in outs for c in o.crops]
    assert crops and all(decode_jpeg(c.jpeg) is not None for c in crops)
