"""Fixtures for the plates tests: the real plate reader and labelled plate photos."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from civicsight.services.plates.main import PlatesSettings, build_reader
from civicsight.services.plates.pipeline import PlateReader


@pytest.fixture(scope="session")
def reader(model_mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlateReader]:
    settings = PlatesSettings(
        model_mirror=model_mirror,
        data_dir=tmp_path_factory.mktemp("plates-data"),
        plate_regions="europe",
    )
    plate_reader = build_reader(settings)
    yield plate_reader
    plate_reader.close()


def photo(media: Path, name: str) -> tuple[np.ndarray, tuple[float, float, float, float], str]:
    """A labelled plate photo: the image, the plate box (xyxy) and the plate text."""
    folder = "alpr_eu" if (media / "alpr_eu" / f"{name}.jpg").exists() else "alpr_us"
    image = cv2.imread(str(media / folder / f"{name}.jpg"))
    assert image is not None, name
    parts = (media / folder / f"{name}.txt").read_text().split()
    x, y, w, h = (float(v) for v in parts[1:5])
    return image, (x, y, x + w, y + h), parts[5]
