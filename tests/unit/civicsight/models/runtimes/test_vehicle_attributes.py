"""Vehicle colour and type (OMZ barrier-0039) on real car photos, cropped by the hub's
detector as the detect service does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from civicsight.models.registry import resolve
from civicsight.models.runtimes.openvino_yolo import OpenVinoYolo, YoloOptions
from civicsight.models.runtimes.vehicle_attributes import COLOURS, TYPES, OpenVinoVehicleAttributes

# photo -> colour a person reads off it (clear cases only; type is not asserted: on these
# photos the network calls many saloons "truck", see the report)
PHOTOS = {
    "alpr_eu/eu1.jpg": "black",
    "alpr_eu/eu7.jpg": "white",
    "alpr_eu/eu8.jpg": "red",
    "alpr_eu/eu9.jpg": "gray",
    "alpr_us/0b86cecf-67d1-4fc0-87c9-b36b0ee228bb.jpg": "blue",
}


@pytest.fixture(scope="module")
def attributes(model_mirror: Path) -> Iterator[OpenVinoVehicleAttributes]:
    spec, folder = resolve("vehicle-attributes-0039", model_mirror)
    model = OpenVinoVehicleAttributes(folder / spec.files[0].name, batch=2)
    model.start()
    yield model
    model.close()


@pytest.fixture(scope="module")
def cars(model_mirror: Path, media_mirror: Path) -> dict[str, np.ndarray]:
    """The largest vehicle box of each photo."""
    _, folder = resolve("yolov8n-int8-openvino", model_mirror)
    detector = OpenVinoYolo(folder / "yolov8n.xml", YoloOptions(batch=1, class_ids=(2, 5, 7)))
    detector.start()
    out: dict[str, np.ndarray] = {}
    try:
        for name in PHOTOS:
            image = cv2.imread(str(media_mirror / name))
            assert image is not None, name
            (det,) = detector.detect([image])
            assert len(det), f"{name}: no vehicle found"
            areas = (det.xyxy[:, 2] - det.xyxy[:, 0]) * (det.xyxy[:, 3] - det.xyxy[:, 1])
            x1, y1, x2, y2 = det.xyxy[int(np.argmax(areas))].astype(int)
            out[name] = image[y1:y2, x1:x2]
    finally:
        detector.close()
    return out


def test_outputs_are_probability_distributions(
    attributes: OpenVinoVehicleAttributes, cars: dict[str, np.ndarray]
) -> None:
    """Guards output wiring: colour and type come back as softmax rows in input order
    (batch of 2, so the 5 photos span three inference calls), trunk features as 128-d."""
    result = attributes.analyse(list(cars.values()))
    assert len(result) == len(PHOTOS)
    assert result.colour.shape == (len(PHOTOS), len(COLOURS))
    assert result.type.shape == (len(PHOTOS), len(TYPES))
    assert result.trunk.shape == (len(PHOTOS), 128)
    for probs in (result.colour, result.type):
        assert (probs >= 0).all() and (probs <= 1).all()
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    single = attributes.analyse([next(iter(cars.values()))])
    np.testing.assert_allclose(single.colour[0], result.colour[0], atol=0.02)  # bf16 on CPU


@pytest.mark.parametrize(("photo", "colour"), PHOTOS.items())
def test_colour_of_clear_cases(
    attributes: OpenVinoVehicleAttributes, cars: dict[str, np.ndarray], photo: str, colour: str
) -> None:
    """Guards the input path (BGR, 72x72, raw pixels): a channel swap turns red into blue."""
    result = attributes.analyse([cars[photo]])
    assert COLOURS[int(np.argmax(result.colour[0]))] == colour


def test_not_started_is_an_error(model_mirror: Path) -> None:
    spec, folder = resolve("vehicle-attributes-0039", model_mirror)
    with pytest.raises(RuntimeError, match="not started"):
        OpenVinoVehicleAttributes(folder / spec.files[0].name).analyse([])
