"""Counts on real video against a hand count: the demo street camera's file (its counting
line, frame rate and calibration), its sample video, the hub's detector and tracker
(OpenVINO YOLOv8n, ByteTrack: ``services.detect.pipeline``), the stream app's tracklet
and traffic processors. Only the broker is left out. The measured counts and their error
are reported in the README ("Traffic counts and speeds")."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
import yaml

from civicsight.cameras import CameraConfig, load_camera
from civicsight.events import Frame, FrameDetections
from civicsight.services.detect.detectors import CpuDetector
from civicsight.services.detect.pipeline import DetectPipeline, openvino_model
from civicsight.services.detect.settings import DetectSettings
from civicsight.services.ingest.logic import FrameSampler
from civicsight.services.ingest.sources import video_frames
from civicsight.streams.tracklet_processor import TrackletProcessor
from civicsight.streams.traffic_processor import TrafficProcessor
from civicsight.traffic import CountBin, SpeedBin, bin_start

REPO = Path(__file__).resolve().parents[4]
HANDCOUNT = yaml.safe_load((REPO / "tests/fixtures/handcount-car-detection.yaml").read_text())
T0 = 1_700_000_100.0  # the video's first frame: a bin start, so every crossing is in one bin


def frames(video: Path, cam: CameraConfig) -> Iterator[Frame]:
    """The video sampled and encoded as ingest does for the camera (played once; the
    frames are narrower than ``max_width``, so none is scaled)."""
    sampler = FrameSampler(cam.fps)
    for seq, (t, image) in enumerate(video_frames(video, loop=False, stop=threading.Event())):
        if sampler.take(t):
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, cam.jpeg_quality])
            assert ok
            h, w = image.shape[:2]
            assert w <= cam.max_width
            yield Frame(
                camera_id="street",
                seq=seq,
                captured_at=T0 + t,
                width=w,
                height=h,
                jpeg=jpeg.tobytes(),
            )


@pytest.fixture(scope="module")
def detections(model_mirror: Path, media_mirror: Path) -> list[FrameDetections]:
    cam = load_camera(REPO / HANDCOUNT["camera"])
    settings = DetectSettings(model_mirror=model_mirror, batch_max=4)
    model, label = openvino_model(settings)
    detector = CpuDetector(model)
    detector.start()
    try:
        pipeline = DetectPipeline(detector, label, settings.camera_fps, settings.crop_interval_s)
        sampled = list(frames(media_mirror / HANDCOUNT["video"], cam))
        batches = iter([sampled[i : i + 4] for i in range(0, len(sampled), 4)])
        return [fd for out in pipeline.run(batches) for fd in out.detections]
    finally:
        detector.close()


def test_counts_on_the_street_video_against_the_hand_count(
    detections: list[FrameDetections],
) -> None:
    """Per direction, the hub never counts more vehicles than crossed (a tracklet counted
    twice, a wobbling box counted at every frame, or every frame counted would all
    exceed the hand count of 2) and counts at least one: measured 1 of 2 each way (the
    detector misses these cars seen from above in most frames; see the README). Speeds
    of the counted cars lie within 15 % of those timed by hand."""
    cam = load_camera(REPO / HANDCOUNT["camera"])
    assert cam.calibration is not None
    tracklets = TrackletProcessor(
        {},
        {},
        rules=lambda _c: cam.rules,
        calibration=lambda _c: cam.calibration.homography,
        traffic=True,
    )
    traffic = TrafficProcessor({}, rules=lambda _c: cam.rules)
    for fd in detections:  # wall time = capture time: played live
        tracklets.on_frame(fd, 0, fd.captured_at)
    tracklets.on_tick(0, detections[-1].captured_at + 10)  # the last tracklets end
    traffic.feed(tracklets.take_traffic())
    state = traffic.state("street")
    assert state is not None and list(state.bins) == [bin_start(T0)]
    rows = state.rows(bin_start(T0))
    counted = {way: 0 for way in HANDCOUNT["counts"]}
    for r in rows:
        if isinstance(r, CountBin) and r.rule == HANDCOUNT["line"]:
            counted[r.direction] += r.count
    speeds = [r for r in rows if isinstance(r, SpeedBin)]
    print(f"\nhand count {HANDCOUNT['counts']}, hub {counted}, speeds {speeds}")
    for way, hand in HANDCOUNT["counts"].items():
        assert 1 <= counted[way] <= hand, (way, counted)
    assert sum(s.count for s in speeds) == sum(counted.values())
    hand_kmh = [v["kmh"] for v in HANDCOUNT["speeds_by_hand"]]
    for s in speeds:
        assert s.p15_kmh is not None and s.p85_kmh is not None
        assert min(hand_kmh) * 0.85 <= s.p15_kmh <= s.p85_kmh <= max(hand_kmh) * 1.15, s
