"""The vector graphs on disk: one usearch file per (model, class) and a manifest.

The one writer (the indexer) saves a graph to a new file (fsync, rename), then the
manifest the same way, and only then deletes the files no manifest names any more. A
crash at any point leaves the previous manifest and its files whole. Readers (the API)
memory-map the files the manifest names and follow the store for what came after it.
A file that does not match its manifest entry (size, count, its last vector against the
store) is not used: its space is rebuilt from the store, the truth.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 1


class GraphParams(BaseModel):
    """How the graphs are built: a saved graph built otherwise is built again."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    dtype: str = Field(description="usearch scalar type of the stored vectors")
    connectivity: int = Field(gt=0, description="HNSW links per node")
    expansion_add: int = Field(gt=0, description="candidate list while building")


class SpaceFile(BaseModel):
    """One saved graph: the vectors of one model and one class."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    model: str
    cls: str
    file: str = Field(pattern=r"^[0-9]+-[0-9]+\.usearch$")
    size: int = Field(ge=0, description="file size in bytes")
    count: int = Field(ge=0, description="vectors in the graph")
    check_key: int = Field(description="the largest key in the graph (-1: empty)")


class Manifest(BaseModel):
    """What a save wrote: the sightings it covers (ids up to ``last_id``, removals up to
    ``last_gone``) and its graphs."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    format: int = FORMAT
    saved_at: float
    generation: int = Field(ge=1)
    last_id: int = Field(ge=0)
    last_gone: int = Field(ge=0)
    params: GraphParams
    spaces: tuple[SpaceFile, ...]


def read_manifest(folder: Path) -> Manifest | None:
    """The last manifest saved, or None when there is none or it cannot be read (then
    every graph is built again from the store)."""
    path = folder / MANIFEST
    try:
        manifest = Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as err:
        log.warning("vector index manifest %s unreadable, rebuilding: %s", path, err)
        return None
    if manifest.format != FORMAT:
        log.warning("vector index format %s, not %s: rebuilding", manifest.format, FORMAT)
        return None
    return manifest


def stamp(folder: Path) -> tuple[int, int] | None:
    """What changes when a new manifest is saved (a reader reopens then)."""
    try:
        st = (folder / MANIFEST).stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_ino)


def _replace(tmp: Path, path: Path) -> None:
    """Owner-only (appearance vectors are personal data, like the store), on disk, then
    in place."""
    os.chmod(tmp, 0o600)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _folder(folder: Path) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # also when an older version made it


def save_graph(graph: Any, folder: Path, name: str) -> int:
    """Write one graph under ``name`` atomically; its size in bytes."""
    _folder(folder)
    tmp = folder / f"{name}.tmp"
    graph.save(str(tmp))
    _replace(tmp, folder / name)
    return (folder / name).stat().st_size


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Make ``manifest`` the current one (atomically), then delete what it does not name."""
    _folder(folder)
    tmp = folder / f"{MANIFEST}.tmp"
    tmp.write_text(manifest.model_dump_json(indent=1))
    _replace(tmp, folder / MANIFEST)
    _sync_folder(folder)
    remove_unnamed(folder, manifest)


def remove_unnamed(folder: Path, manifest: Manifest) -> None:
    """Delete what ``manifest`` does not name: older graphs, a save that died halfway
    (the writer's only: readers may still have older graphs mapped, which Linux keeps)."""
    keep = {s.file for s in manifest.spaces} | {MANIFEST}
    for path in folder.iterdir():
        if path.name not in keep:
            path.unlink(missing_ok=True)


def open_graph(folder: Path, entry: SpaceFile, view: bool) -> Any | None:
    """The saved graph of ``entry``: memory-mapped (``view``, read-only) or loaded
    (to change it); None when the file is missing or does not match the manifest."""
    from usearch.index import Index

    path = folder / entry.file
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        log.warning("vector index file %s missing: rebuilding %s", path, entry.cls)
        return None
    if size != entry.size:
        log.warning("vector index file %s is %d bytes, not %d: rebuilding", path, size, entry.size)
        return None
    try:
        graph = Index.restore(str(path), view=view)
    except (ValueError, RuntimeError) as err:
        log.warning("vector index file %s unreadable (%s): rebuilding", path, err)
        return None
    if graph is None or len(graph) != entry.count:
        log.warning("vector index file %s does not hold %d vectors: rebuilding", path, entry.count)
        return None
    if view:
        prefetch(path)
    return graph


def prefetch(path: Path) -> None:
    """Ask the kernel to read a mapped graph in now, in the background: after a reboot
    the first searches would otherwise wait on the disk page by page."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    finally:
        os.close(fd)
