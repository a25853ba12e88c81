"""The model registry: mirror resolution and checksum checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from civicsight.models.registry import ModelUnavailableError, load_registry, resolve

NAME = "yolov8n-int8-openvino"


def test_registry_entries_are_complete() -> None:
    for spec in load_registry().values():
        assert spec.files or spec.site_setting, spec.name
        assert all(len(f.sha256) == 64 for f in spec.files)
        assert spec.source.startswith("https://") and spec.licence and spec.published_accuracy


def test_resolves_from_the_mirror_and_verifies(model_mirror: Path) -> None:
    spec, folder = resolve(NAME, model_mirror)
    assert folder == model_mirror / spec.folder


def copy_model(model_mirror: Path, tmp_path: Path) -> Path:
    spec = load_registry()[NAME]
    shutil.copytree(model_mirror / spec.folder, tmp_path / spec.folder)
    return tmp_path / spec.folder


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_corrupt_or_missing_file_names_the_file(
    model_mirror: Path, tmp_path: Path, damage: str
) -> None:
    """Guards against loading a half-downloaded model: the error names the file."""
    folder = copy_model(model_mirror, tmp_path)
    target = folder / "yolov8n.bin"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:1000])
    else:
        target.unlink()
    with pytest.raises(ModelUnavailableError, match=r"yolov8n\.bin"):
        resolve(NAME, tmp_path)


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(ModelUnavailableError, match=NAME):
        resolve("nope", None)


def test_offline_without_mirror_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="CIVICSIGHT_MODEL_MIRROR"):
        resolve(NAME, tmp_path / "empty")


def test_site_supplied_weights_are_never_resolved_from_the_registry() -> None:
    """Guards against the OSNet entry looking like a verified model file: its weights come
    from the site's setting, and resolving it says so."""
    spec = load_registry()["reid-person-osnet"]
    assert spec.runtime == "torchreid" and spec.files == ()
    with pytest.raises(ModelUnavailableError, match="CIVICSIGHT_REID_TORCHREID_WEIGHTS"):
        resolve("reid-person-osnet", None)
