"""Helpers shared by test modules (fixtures live in conftest.py files)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def mirror(env: str, sub: str) -> Path:
    """An offline mirror folder: ``env`` if set, else ``../shared/<sub>`` beside the repo."""
    path = Path(os.environ.get(env) or REPO.parent / "shared" / sub).resolve()
    if not path.is_dir():
        pytest.fail(f"{sub} mirror {path} missing: set {env}")
    return path


def media_dir() -> Path:
    return mirror("CIVICSIGHT_MEDIA_MIRROR", "media")


def media_file(name: str) -> Path:
    path = media_dir() / name
    if not path.exists():
        pytest.fail(f"sample media {path} missing: set CIVICSIGHT_MEDIA_MIRROR")
    return path
