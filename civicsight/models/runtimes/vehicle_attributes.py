"""Vehicle colour and type on OpenVINO (OMZ ``vehicle-attributes-recognition-barrier-0039``).

The only module that imports openvino for vehicle attributes. The IR takes a BGR
72x72 image (its first layer is a fixed batch norm, so raw 0..255 pixels go in) and
gives softmax outputs ``color`` (white, gray, yellow, red, green, blue, black) and
``type`` (car, van, truck, bus). Besides those, the adapter exposes the shared trunk
feature the two heads read (``Eltwise3``, 128 x 5 x 5), averaged over the 5 x 5 grid:
a 128-d appearance descriptor computed at no extra cost. Crops are stretched to the
input size; the batch dimension is dynamic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from civicsight.models.runtimes.openvino_input import compile_for_u8_bgr
from civicsight.models.runtimes.openvino_reid import resize_into

COLOURS: tuple[str, ...] = ("white", "gray", "yellow", "red", "green", "blue", "black")
TYPES: tuple[str, ...] = ("car", "van", "truck", "bus")
TRUNK = "Eltwise3"  # the last layer shared by the colour and type heads


@dataclass(frozen=True)
class VehicleAttributes:
    """Per crop (rows in input order): colour and type probabilities, trunk features."""

    colour: np.ndarray  # (n, 7) softmax over COLOURS
    type: np.ndarray  # (n, 4) softmax over TYPES
    trunk: np.ndarray  # (n, 128) mean over the 5 x 5 grid of the shared trunk

    def __len__(self) -> int:
        return len(self.colour)


class OpenVinoVehicleAttributes:
    """Batched vehicle colour/type classifier. Lifecycle: ``start()`` ... ``close()``."""

    def __init__(self, xml: Path, batch: int = 16, device: str = "CPU") -> None:
        self.xml = xml
        self.batch = batch
        self.device = device
        self._request: Any = None
        self._size: tuple[int, int] = (0, 0)

    def start(self) -> None:
        import openvino as ov
        import openvino.opset13 as ops

        core = ov.Core()
        model = core.read_model(self.xml)
        names = {o.any_name for o in model.outputs}
        if names != {"color", "type"}:
            raise RuntimeError(f"{self.xml.name}: outputs {sorted(names)}, want color and type")
        trunk = next(
            (op for op in model.get_ordered_ops() if op.get_friendly_name() == TRUNK), None
        )
        if trunk is None:
            raise RuntimeError(f"{self.xml.name}: layer {TRUNK} not found (not barrier-0039?)")
        pooled = ops.reduce_mean(trunk.output(0), ops.constant(np.array([2, 3])), False)
        pooled.output(0).set_names({"trunk"})
        model.add_outputs([pooled.output(0)])
        shape = model.inputs[0].get_partial_shape()
        self._size = (shape[2].get_length(), shape[3].get_length())
        model.reshape([-1, 3, *self._size])
        compiled = compile_for_u8_bgr(core, model, self.device, {"PERFORMANCE_HINT": "LATENCY"})
        self._request = compiled.create_infer_request()

    def close(self) -> None:
        self._request = None

    def analyse(self, images: Sequence[np.ndarray]) -> VehicleAttributes:
        """Colour, type and trunk features of each BGR vehicle crop, in order."""
        if self._request is None:
            raise RuntimeError("vehicle attribute model not started")
        n = len(images)
        colour = np.empty((n, len(COLOURS)), np.float32)
        kind = np.empty((n, len(TYPES)), np.float32)
        trunk = np.empty((n, 128), np.float32)
        for start in range(0, n, self.batch):
            chunk = images[start : start + self.batch]
            tensor = np.empty((len(chunk), *self._size, 3), np.uint8)
            resize_into(chunk, tensor)
            self._request.infer({0: tensor})
            end = start + len(chunk)
            colour[start:end] = self._request.get_tensor("color").data.reshape(len(chunk), -1)
            kind[start:end] = self._request.get_tensor("type").data.reshape(len(chunk), -1)
            trunk[start:end] = self._request.get_tensor("trunk").data.reshape(len(chunk), -1)
        return VehicleAttributes(colour, kind, trunk)
