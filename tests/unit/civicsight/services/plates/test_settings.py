"""The plates service's settings: defaults, and a bad detector size refused early."""

from __future__ import annotations

from pathlib import Path

import pytest

from civicsight.services.plates.patterns import RegionPatterns
from civicsight.services.plates.pipeline import PlateReader
from civicsight.services.plates.settings import PlatesSettings


def test_settings_defaults_and_bad_sizes(
    monkeypatch: pytest.MonkeyPatch, model_mirror: Path
) -> None:
    """Guards against a typo in the detector sizes starting a service that reads nothing."""
    monkeypatch.setenv("CIVICSIGHT_PLATE_DETECTOR_SIZES", "320,641")
    settings = PlatesSettings()
    assert settings.plate_regions == "europe"
    assert settings.plate_regions_file.is_file()
    with pytest.raises(ValueError, match="plate detector size 641"):
        PlateReader.from_registry(
            RegionPatterns.none(), settings.reader_options(()), model_mirror, None
        )
    monkeypatch.setenv("CIVICSIGHT_PLATE_DETECTOR_SIZES", "big")
    with pytest.raises(ValueError, match="expected sizes such as 320,640"):
        PlatesSettings().reader_options(())
