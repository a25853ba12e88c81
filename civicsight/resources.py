"""Files that ship inside the package (demo cameras, plate formats, index templates, the
model registry, the web app), found with ``importlib.resources`` so that an installed
wheel works the same as a source checkout: nothing is read from the current directory or
from beside the checkout.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_path(package: str, *parts: str) -> Path:
    """A file or folder shipped in ``package``. Wheels install package data as plain files,
    so this is a real path (``StaticFiles`` and directory listings need one)."""
    path = Path(str(files(package).joinpath(*parts)))
    if not path.exists():
        raise FileNotFoundError(f"{'/'.join(parts)} is missing from the {package} package")
    return path


def data_path(*parts: str) -> Path:
    """A file or folder of ``civicsight/data``."""
    return package_path("civicsight.data", *parts)
