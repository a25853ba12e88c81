"""The smallest service on the runtime: frames in, detections without boxes out; a frame
whose JPEG does not decode is dead-lettered. README's "Adding a service" walks through it
and tests/integration/civicsight/test_runtime.py runs it on the broker.
``python -m tests.integration.civicsight.blank_detect``.
"""

from __future__ import annotations

import time

from pydantic import Field

from civicsight.events import Frame, FrameDetections
from civicsight.images import decode_jpeg
from civicsight.runtime import Outputs, Polling, Received, Service, run
from civicsight.settings import HubSettings


class BlankSettings(HubSettings):
    blank_group: str = Field("blank", description="Kafka consumer group")
    blank_batch_max: int = Field(4, ge=1, description="frames per batch (at most)")
    blank_work_s: float = Field(0.0, ge=0, description="pretend work per frame, seconds")


class BlankDetect(Service[BlankSettings]):
    name = "blank"
    settings_class = BlankSettings
    consumes = ("frames",)
    publishes = ("detections",)

    @property
    def group(self) -> str:
        return self.settings.blank_group

    def polling(self) -> Polling:
        return Polling(max_messages=self.settings.blank_batch_max, wait_s=0.1)

    def handle(self, batch: list[Received]) -> Outputs:
        out = Outputs()
        for r in batch:
            assert isinstance(r.event, Frame)  # the runtime decodes by the topic table
            if decode_jpeg(r.event.jpeg) is None:
                out.dead_letter(r, "frame JPEG cannot be decoded")
                continue
            time.sleep(self.settings.blank_work_s)
            found = FrameDetections.from_arrays(r.event, [], [], [], [], "blank", time.time())
            out.publish("detections", r.key, found)
        return out


if __name__ == "__main__":
    run(BlankDetect)
