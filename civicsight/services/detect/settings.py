"""The detect service's settings (also read by `civicsight bench detect`)."""

from __future__ import annotations

from pydantic import Field

from civicsight.settings import DEVICE_PATTERN, CameraFiles, DeviceChoice, HubSettings, ModelSource


class DetectSettings(HubSettings, CameraFiles, ModelSource, DeviceChoice):
    model: str = Field("yolov8n-int8-openvino", description="detector name in models/registry.yaml")
    detect_device: str | None = Field(
        None,
        pattern=DEVICE_PATTERN,
        description="auto: the CUDA path when a CUDA device and torch_weights are there, "
        "else the CPU (OpenVINO); cpu; cuda or cuda:N (fails without either); unset: "
        "CIVICSIGHT_DEVICE",
    )
    torch_weights: str | None = Field(
        None,
        description="ultralytics YOLO .pt weights for the CUDA path (a model YAML such as "
        "yolo11n.yaml gives random weights: speed tests only)",
    )

    @property
    def detect_device_choice(self) -> str:
        return self.detect_device or self.device

    imgsz: int = Field(640, ge=128, le=1280, description="network input long side, pixels")
    conf: float = Field(0.25, gt=0, lt=1, description="minimum detection confidence")
    batch_max: int = Field(
        8, ge=1, le=512, description="frames per inference batch, at most (CUDA: try 128)"
    )
    batch_wait_ms: int = Field(
        5,
        ge=0,
        le=1000,
        description="longest wait for the rest of a batch after its first frame (a batch "
        "also takes every frame already queued; longer waits add latency, not speed)",
    )
    crop_interval_s: float = Field(1.0, gt=0, description="about one crop per track this often")
    camera_fps: float = Field(5.0, gt=0, description="expected frame rate (tracker memory)")
