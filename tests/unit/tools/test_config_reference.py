"""README's configuration reference is generated from the settings classes."""

from __future__ import annotations

from pathlib import Path

from tools.config_reference import PROCESSES, render


def test_readme_reference_is_current() -> None:
    """Guards against a new setting that the README does not document
    (regenerate with `python -m tools.config_reference --write`)."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert render() in readme


def test_every_setting_is_described() -> None:
    for _, cls in PROCESSES:
        for name, field in cls.model_fields.items():
            assert field.description, f"{cls.__name__}.{name} has no description"


def test_every_camera_file_field_is_described() -> None:
    """Guards a camera file field (a rule's, say) that the reference lists without saying
    what it means."""
    from tools.config_reference import camera_table

    for row in camera_table().splitlines()[2:]:
        assert not row.endswith("|  |"), row
