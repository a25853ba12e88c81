"""The model registry: which model files exist, where to find them, and their checksums.

``resolve`` looks in the offline mirror first (air-gapped sites), then downloads from
the model's source URL into the data folder; either way every file's sha256 is checked.
"""

from __future__ import annotations

import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from civicsight.checksums import sha256_file

REGISTRY_FILE = Path(__file__).with_name("registry.yaml")


class ModelUnavailableError(RuntimeError):
    """A model file is missing or corrupt; the message says which and how to get it."""


@dataclass(frozen=True)
class ModelFile:
    name: str
    sha256: str


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str
    runtime: str
    version: str
    folder: str
    files: tuple[ModelFile, ...]
    source: str
    licence: str
    input: dict[str, Any]
    published_accuracy: str
    package: str | None = None
    source_names: dict[str, str] | None = None
    site_setting: str | None = None  # weights supplied by the site through this setting

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def url(self, file_name: str) -> str:
        """Where a connected site downloads ``file_name`` of this model."""
        return self.source + (self.source_names or {}).get(file_name, file_name)


def load_registry(path: Path = REGISTRY_FILE) -> dict[str, ModelSpec]:
    raw = yaml.safe_load(path.read_text())["models"]
    out: dict[str, ModelSpec] = {}
    for name, entry in raw.items():
        files = tuple(ModelFile(f["name"], f["sha256"]) for f in entry["files"])
        out[name] = ModelSpec(
            name=name,
            task=entry["task"],
            runtime=entry["runtime"],
            version=entry["version"],
            folder=entry["folder"],
            files=files,
            source=entry["source"],
            licence=entry["licence"],
            input=entry["input"],
            published_accuracy=entry["published_accuracy"],
            package=entry.get("package"),
            source_names=entry.get("source_names"),
            site_setting=entry.get("site_setting"),
        )
    return out


def verify(spec: ModelSpec, folder: Path) -> None:
    for f in spec.files:
        path = folder / f.name
        if not path.is_file():
            raise ModelUnavailableError(
                f"model {spec.name}: file {path} is missing; put it in the mirror folder "
                f"(CIVICSIGHT_MODEL_MIRROR) or download it from {spec.url(f.name)}"
            )
        actual = sha256_file(path)
        if actual != f.sha256:
            raise ModelUnavailableError(
                f"model {spec.name}: file {path} is corrupt (sha256 {actual[:12]}..., expected "
                f"{f.sha256[:12]}...); fetch it again from {spec.url(f.name)}"
            )


def package_folder(spec: ModelSpec) -> Path:
    import importlib.util

    assert spec.package is not None
    found = importlib.util.find_spec(spec.package)
    if found is None or found.origin is None:
        raise ModelUnavailableError(
            f"model {spec.name}: Python package {spec.package} is not installed "
            "(it ships the model files; see requirements.lock)"
        )
    return Path(found.origin).parent / spec.folder


def _download(spec: ModelSpec, target: Path, timeout: float) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for f in spec.files:
        url = spec.url(f.name)
        try:
            with (
                urllib.request.urlopen(url, timeout=timeout) as resp,
                (target / f"{f.name}.part").open("wb") as out,
            ):
                shutil.copyfileobj(resp, out)
        except OSError as err:
            raise ModelUnavailableError(
                f"model {spec.name}: cannot download {url} ({err}); on an offline site set "
                "CIVICSIGHT_MODEL_MIRROR to a folder holding the model files"
            ) from err
        (target / f"{f.name}.part").replace(target / f.name)


def resolve(
    name: str,
    mirror: Path | None,
    cache: Path | None = None,
    download: bool = False,
    timeout: float = 30.0,
) -> tuple[ModelSpec, Path]:
    """The verified folder holding ``name``'s files."""
    registry = load_registry()
    if name not in registry:
        raise ModelUnavailableError(f"unknown model {name!r}; known: {', '.join(registry)}")
    spec = registry[name]
    if spec.site_setting is not None:
        raise ModelUnavailableError(
            f"model {name}: its weights are supplied by the site (set {spec.site_setting}); "
            "the registry holds no file for it"
        )
    if spec.package is not None:  # shipped inside a Python package: nothing to fetch
        folder = package_folder(spec)
        verify(spec, folder)
        return spec, folder
    candidates = [p / spec.folder for p in (mirror, cache) if p is not None]
    for folder in candidates:
        if all((folder / f.name).is_file() for f in spec.files):
            verify(spec, folder)  # present but corrupt is an error, not a reason to skip
            return spec, folder
    partial = [c for c in candidates if any((c / f.name).exists() for f in spec.files)]
    if partial and not download:
        verify(spec, partial[0])  # names the missing file
    if download and cache is not None:
        _download(spec, cache / spec.folder, timeout)
        verify(spec, cache / spec.folder)
        return spec, cache / spec.folder
    where = ", ".join(str(c) for c in candidates) or "(no mirror set)"
    raise ModelUnavailableError(
        f"model {spec.name}: files not found in {where}; set "
        f"CIVICSIGHT_MODEL_MIRROR or allow downloads from {spec.source}"
    )
