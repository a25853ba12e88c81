"""The re-ID service's settings from the environment, and the person embedder they
choose."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from civicsight.models.appearance import build_person_embedder
from civicsight.models.runtimes.torchreid_osnet import WeightsError
from civicsight.services.reid.settings import ReidSettings


@pytest.mark.parametrize(
    ("env", "field", "want"),
    [
        ({}, "reid_model", "reid-person-0277"),
        ({"CIVICSIGHT_REID_MODEL": "reid-person-0288"}, "reid_model", "reid-person-0288"),
        ({"CIVICSIGHT_MODEL": "yolov8n-int8-openvino"}, "reid_model", "reid-person-0277"),
        ({"CIVICSIGHT_REID_MIN_QUALITY": "0.5"}, "reid_min_quality", 0.5),
        ({"CIVICSIGHT_REID_BACKEND": "torchreid"}, "reid_backend", "torchreid"),
    ],
    ids=["default", "choice", "detect-model-not-taken", "min-quality", "backend"],
)
def test_settings_from_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], field: str, want: object
) -> None:
    """Guards the shared CIVICSIGHT_ prefix: detect's CIVICSIGHT_MODEL must not pick the
    re-ID model."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert getattr(ReidSettings(), field) == want


def test_unknown_model_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVICSIGHT_REID_MODEL", "reid-person-9999")
    with pytest.raises(ValidationError, match="reid_model"):
        ReidSettings()


def test_torchreid_backend_needs_weights_or_the_explicit_flag() -> None:
    """Guards against the service silently embedding with an untrained network."""
    settings = ReidSettings(reid_backend="torchreid")
    with pytest.raises(WeightsError, match="CIVICSIGHT_REID_TORCHREID_WEIGHTS"):
        build_person_embedder(settings)
