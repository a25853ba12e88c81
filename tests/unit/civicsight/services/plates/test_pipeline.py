"""The plate reader end to end on real photos: detectors, crops, recogniser, choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from civicsight.services.plates.logic import iou
from civicsight.services.plates.pipeline import PlateReader
from tests.unit.civicsight.services.plates.conftest import photo


@pytest.mark.parametrize(
    "name",
    [
        "eu10",  # Polish WA56660
        "test_002",  # Slovak RK755AJ
        "test_013",  # RK857AI: the recogniser says 1, the format says I
        "test_001",  # PP587AO: the recogniser says 0, the format says O
        "eu2",  # GWAGEN: fits no format, read as it is
        "test_076",  # Czech 4B21875 with the inspection sticker between the groups
    ],
)
def test_reads_plates_in_real_photos(reader: PlateReader, media_mirror: Path, name: str) -> None:
    """Guards against any stage of the reading path breaking (detection, rectification,
    recognition, character constraint, region patterns, voting over crops)."""
    image, box, text = photo(media_mirror, name)
    found = reader.read_image(image)
    at = [p for p in found if iou(p.box.xyxy, box) >= 0.3]
    assert at, f"no plate found at the labelled place in {name}"
    read = at[0].text
    assert read is not None and read.text == text
    assert 0.3 < read.conf <= 1 and len(read.char_conf) == len(text)
    assert at[0].crops >= 4


def test_many_images_in_one_batch_read_as_alone(reader: PlateReader, media_mirror: Path) -> None:
    """Guards against mixing up plates between images of one batch."""
    names = ["eu10", "test_002", "eu2"]
    images = [photo(media_mirror, n)[0] for n in names]
    batched = reader.read_images(images, max_plates=1)
    for image, plates in zip(images, batched, strict=True):
        alone = reader.read_images([image], max_plates=1)[0]
        assert [p.text.text for p in plates if p.text] == [p.text.text for p in alone if p.text]
    assert [p[0].text.text for p in batched if p and p[0].text] == ["WA56660", "RK755AJ", "GWAGEN"]


def test_an_image_without_plates_reads_nothing(reader: PlateReader) -> None:
    """Guards against inventing plates in empty road surface."""
    grey = np.full((240, 320, 3), 128, np.uint8)
    assert reader.read_images([grey]) == [[]]
    with pytest.raises(ValueError, match="max_plates"):
        reader.read_images([grey], max_plates=0)
