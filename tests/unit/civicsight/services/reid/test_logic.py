"""Pure re-ID logic on real crops: quality scoring, routing, the batch plan, vehicle
vectors and the events."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from civicsight.events import Appearance, Box, Crop, ObjectClass
from civicsight.models.appearance import Route, colour_histogram, route, vehicle_vectors
from civicsight.services.reid.logic import (
    Quality,
    QualityParams,
    Scored,
    appearance,
    cosine_stats,
    crop_quality,
    plan,
    vehicle_label,
)
from tests.unit.civicsight.services.reid.walkers import ENTERING, FRAME_SIZE, crop

T0 = 1_700_000_000.0
WALKER = (416, (380, 7, 544, 380))  # walker 2 standing: sharp, whole, 164 x 373 px
Box4 = tuple[float, float, float, float]


def walker() -> tuple[np.ndarray, Box4]:
    index, box = WALKER
    return crop(index, box), tuple(float(v) for v in box)  # type: ignore[return-value]


def blurred(pixels: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(pixels, (21, 21), 0)


def shrunk(pixels: np.ndarray) -> np.ndarray:
    size = (pixels.shape[1] // 4, pixels.shape[0] // 4)
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def moved(box: Box4, dx: float, dy: float) -> Box4:
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


# (case, pixels, box, route, frame size, (sharpness, size, whole) expected, or None = any)
def quality_cases() -> list[tuple[str, np.ndarray, Box4, Route, tuple[int, int] | None, dict]]:
    pixels, box = walker()
    small = shrunk(pixels)
    small_box = (box[0], box[1], box[0] + small.shape[1], box[1] + small.shape[0])
    ent_index, ent_box = ENTERING[0]
    entering = crop(ent_index, ent_box)
    ent: Box4 = (ent_box[0], ent_box[1], ent_box[2], ent_box[3])
    return [
        ("sharp-whole-person", pixels, box, "person", FRAME_SIZE, {"value": (0.95, 1.0)}),
        ("motion-blur", blurred(pixels), box, "person", FRAME_SIZE, {"sharpness": (0.0, 0.3)}),
        ("quarter-size", small, small_box, "person", FRAME_SIZE, {"size": (0.6, 0.75)}),  # 41x93
        (
            "left-border",
            pixels,
            moved(box, -box[0], 0),
            "person",
            FRAME_SIZE,
            {"whole": (0.5, 0.5)},
        ),
        ("top-border", pixels, moved(box, 0, -box[1]), "person", None, {"whole": (0.5, 0.5)}),
        (
            "right-border-frame-known",
            pixels,
            moved(box, FRAME_SIZE[0] - box[2], 0),
            "person",
            FRAME_SIZE,
            {"whole": (0.5, 0.5)},
        ),
        (
            "right-border-frame-unknown",  # the Crop event carries no frame size yet
            pixels,
            moved(box, FRAME_SIZE[0] - box[2], 0),
            "person",
            None,
            {"whole": (1.0, 1.0)},
        ),
        ("entering-close-up", entering, ent, "person", FRAME_SIZE, {"value": (0.0, 0.05)}),
        (
            "wide-box-person",  # head and shoulders: half as tall as wide
            pixels[:82],
            (box[0], box[1], box[2], box[1] + 82),
            "person",
            FRAME_SIZE,
            {"whole": (0.0, 0.0)},
        ),
        (
            "wide-box-vehicle",  # cars are wide: no shape penalty
            pixels[:82],
            (box[0], box[1], box[2], box[1] + 82),
            "vehicle",
            FRAME_SIZE,
            {"whole": (1.0, 1.0)},
        ),
        ("empty", pixels[:0], box, "person", FRAME_SIZE, {"value": (0.0, 0.0)}),
    ]


CASES = quality_cases()


@pytest.mark.parametrize(
    ("pixels", "box", "kind", "frame_size", "want"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_quality_factors(
    pixels: np.ndarray,
    box: Box4,
    kind: Route,
    frame_size: tuple[int, int] | None,
    want: dict[str, tuple[float, float]],
) -> None:
    """Guards each factor of the documented score: blur, size, cut by the border, and a
    person box too wide to be a whole person; the value always stays in 0..1."""
    q = crop_quality(pixels, box, kind, frame_size)
    got = {"sharpness": q.sharpness, "size": q.size, "whole": q.whole, "value": q.value}
    for name, (lo, hi) in want.items():
        assert lo - 1e-6 <= got[name] <= hi + 1e-6, f"{name} = {got[name]:.3f}, want {lo}..{hi}"
    assert 0.0 <= q.value <= 1.0


def test_quality_prefers_the_better_view_of_the_same_walker() -> None:
    """Guards the ordering that the minimum-quality gate relies on."""
    pixels, box = walker()
    sharp = crop_quality(pixels, box, "person", FRAME_SIZE).value
    assert sharp > crop_quality(blurred(pixels), box, "person", FRAME_SIZE).value
    assert sharp > crop_quality(pixels, moved(box, -box[0], 0), "person", FRAME_SIZE).value


def test_sharpness_reference_is_configurable() -> None:
    pixels, box = walker()
    strict = crop_quality(pixels, box, "person", FRAME_SIZE, QualityParams(sharp_ref=1e6))
    assert strict.sharpness < 0.01


@pytest.mark.parametrize(
    ("cls", "want"),
    [
        ("person", "person"),
        ("car", "vehicle"),
        ("truck", "vehicle"),
        ("bus", "vehicle"),
        ("motorcycle", "vehicle"),
        ("bicycle", None),
    ],
)
def test_route(cls: str, want: Route | None) -> None:
    """Guards against embedding bicycles with the vehicle network, or vehicles as persons."""
    assert route(cls) == want


def make_crop(camera: str, track: int, cls: ObjectClass, box: Box4, t: float = T0) -> Crop:
    return Crop(
        camera_id=camera,
        track_id=track,
        captured_at=t,
        box=Box(x1=box[0], y1=box[1], x2=box[2], y2=box[3], cls=cls, conf=0.9),
        quality=0.9,
        jpeg=b"\xff\xd8\xff\xd9",
    )


def test_plan_keeps_reid_cameras_known_classes_and_good_crops() -> None:
    """Guards against embedding crops of cameras without analytics.reid, bicycles, or
    junk below the least quality."""
    pixels, box = walker()
    crops = [
        (make_crop("on", 1, "person", box), pixels),
        (make_crop("on", 2, "car", box), pixels),
        (make_crop("off", 3, "person", box), pixels),
        (make_crop("on", 4, "bicycle", box), pixels),
        (make_crop("on", 5, "person", box), blurred(pixels)),
    ]
    p = plan(crops, frozenset({"on"}), min_quality=0.3)
    assert [s.crop.track_id for s in p.persons] == [1]
    assert [s.crop.track_id for s in p.vehicles] == [2]
    assert (p.not_reid_camera, p.other_class, p.low_quality) == (1, 1, 1)
    no_cars = plan(crops, frozenset({"on"}), min_quality=0.3, vehicles=False)
    assert no_cars.vehicles == [] and no_cars.other_class == 2


def test_colour_histogram_tells_colours_apart() -> None:
    """Guards the vehicle vector's colour part: same image 1, other colours much lower."""
    pixels, _ = walker()  # dark clothes on a light wall
    red = np.zeros_like(pixels)
    red[..., 2] = 200
    h, r = colour_histogram(pixels), colour_histogram(red)
    assert h.shape == (128,)
    assert float(np.linalg.norm(h)) == pytest.approx(1.0, abs=1e-5)
    assert float(h @ colour_histogram(pixels.copy())) == pytest.approx(1.0, abs=1e-5)
    assert float(h @ r) < 0.3


def test_vehicle_vector_cosine_is_the_mean_of_its_parts() -> None:
    rng = np.random.default_rng(0)
    trunk = rng.normal(size=(2, 128)).astype(np.float32)
    hist = np.abs(rng.normal(size=(2, 128))).astype(np.float32)
    v = vehicle_vectors(trunk, hist)
    assert v.shape == (2, 256)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    want = (cos(trunk[0], trunk[1]) + cos(hist[0], hist[1])) / 2
    assert float(v[0] @ v[1]) == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize(
    ("cls", "colour", "kind"),
    [("car", "red", "van"), ("bus", "red", "van"), ("motorcycle", "red", None)],
)
def test_vehicle_label(cls: str, colour: str, kind: str | None) -> None:
    """Guards against calling a motorcycle a car: the network knows four-wheelers only."""
    colours = ("white", "red")
    types = ("car", "van")
    label = vehicle_label(cls, np.array([0.2, 0.8]), np.array([0.3, 0.7]), colours, types)
    assert (label.colour, label.type) == (colour, kind)
    assert label.colour_conf == pytest.approx(0.8)


def test_appearance_event_round_trips() -> None:
    """Guards the event contract: same camera, track and time as the crop; the quality
    used; the vector as the embedding."""
    pixels, box = walker()
    c = make_crop("cam-1", 7, "person", box, T0 + 1.5)
    vector = np.full(256, 1 / 16, np.float32)
    event = appearance(Scored(c, pixels, "person", Quality(1.0, 0.8, 0.5)), "m@1", vector)
    assert (event.camera_id, event.track_id, event.captured_at) == ("cam-1", 7, T0 + 1.5)
    assert (event.cls, event.model, event.quality) == ("person", "m@1", 0.4)
    assert len(event.embedding) == 256
    assert Appearance.from_bytes(event.to_bytes()) == event


def test_cosine_stats() -> None:
    s = cosine_stats(np.array([0.5, 1.0]))
    assert s == {"n": 2, "mean": 0.75, "std": 0.25, "min": 0.5, "max": 1.0}
    assert cosine_stats(np.array([]))["mean"] is None
