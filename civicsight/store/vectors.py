"""The approximate vector index of the SQLite store: HNSW (usearch), cosine, float16.

The SQLite table ``sightings`` is the truth: every appearance vector (float32) with an
id that only grows (a better vector for a tracklet is a new row, the old id is logged in
``sightings_gone``). One HNSW graph per (model, class): vectors of different models are
never compared.

The graphs are saved beside the store (``vector_files.py``). The writer (the indexer)
keeps them in memory, follows the two tables (``sync``) and saves them now and then
(``save``). A reader (the API) memory-maps the saved graphs, so opening takes no time
whatever their size, and keeps in memory only what came after the save: a small graph
of the newer vectors (``delta``) and the keys removed since (``removed``). When the
writer saves again, the reader opens the new files. A saved graph that does not match
its store is rebuilt from the store: by the writer when it opens, by a reader in the
background (meanwhile that class answers only searches narrow enough to be exact).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from civicsight.events import ObjectClass
from civicsight.store import IndexNotReadyError, SimilarHit
from civicsight.store.vector_files import (
    GraphParams,
    Manifest,
    SpaceFile,
    open_graph,
    read_manifest,
    remove_unnamed,
    save_graph,
    stamp,
    write_manifest,
)

log = logging.getLogger(__name__)

PARAMS = GraphParams(dtype="f16", connectivity=32, expansion_add=128)
EXPANSION_SEARCH = 192  # candidate list while searching (see README: the recall curve)
SYNC_CHUNK = 50_000
SAVE_AFTER_CHANGES = 20_000  # the writer saves after this many changes ...
SAVE_AFTER_S = 60.0  # ... or this long after the first unsaved one
Query = Callable[[str, tuple[object, ...]], list[tuple[Any, ...]]]
SpaceKey = tuple[str, str]


def unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def new_graph(dim: int) -> Any:
    from usearch.index import Index

    return Index(
        ndim=dim,
        metric="cos",
        dtype=PARAMS.dtype,
        connectivity=PARAMS.connectivity,
        expansion_add=PARAMS.expansion_add,
        expansion_search=EXPANSION_SEARCH,
    )


@dataclass
class Space:
    """The graphs of one (model, class)."""

    base: Any | None = None  # the saved graph (a reader's is read-only), or the writer's
    delta: Any | None = None  # a reader's: vectors newer than the save
    removed: set[int] = field(default_factory=set)  # a reader's: keys gone from ``base``
    saved: SpaceFile | None = None  # the file ``base`` matches; None once changed
    building: tuple[int, int] | None = None  # a reader's rebuild: (done, total)

    def graphs(self) -> list[Any]:
        return [g for g in (self.base, self.delta) if g is not None and len(g)]

    def size(self) -> int:
        return sum(len(g) for g in self.graphs()) - len(self.removed)


def _rows(query: Query, sql: str, args: tuple[object, ...]) -> list[tuple[int, bytes]]:
    return [(int(k), blob) for k, blob in query(sql, args)]


PARALLEL_ADD_MIN = 10_000
"""Fewer vectors are added on one thread: parallel inserts into a small graph now and then
left a vector unreachable from its own query (seen in tests, 1 in about 700 searches)."""


def _add(graph: Any, rows: Sequence[tuple[int, bytes]], threads: int) -> None:
    keys = np.array([k for k, _ in rows], dtype=np.uint64)
    vectors = np.frombuffer(b"".join(b for _, b in rows), np.float32).reshape(len(rows), -1)
    graph.add(keys, vectors, threads=threads if len(rows) >= PARALLEL_ADD_MIN else 1)


class VectorIndex:
    """HNSW graphs keyed by (model, class), kept in step with the sightings table and,
    when ``folder`` is given, saved there (``writer``) or opened from there."""

    def __init__(self, folder: Path | None = None, writer: bool = False, threads: int = 0) -> None:
        self.folder = folder
        self.writer = writer
        self.threads = threads
        self._spaces: dict[SpaceKey, Space] = {}
        self._last_id = 0
        self._last_gone = 0
        self._opened = False
        self._stamp: tuple[int, int] | None = None
        self._generation = 0
        self._changes = 0
        self._first_change = 0.0
        self._lock = threading.Lock()  # one sync at a time; searches wait for it
        self._repair: threading.Thread | None = None
        self.expansion_search = EXPANSION_SEARCH

    # ---- opening ---------------------------------------------------------------------

    def _open(self, query: Query, tries: int = 3) -> None:
        """(Re)open from the saved manifest, or start empty; must hold the lock."""
        self._stamp = stamp(self.folder) if self.folder else None
        manifest = read_manifest(self.folder) if self.folder else None
        self._spaces = {}
        self._opened = True
        self._last_id = self._last_gone = 0
        if manifest is not None and not self._usable(manifest, query):
            manifest = None
        if manifest is None:
            self._generation = 0
            return
        self._generation = manifest.generation
        self._last_id, self._last_gone = manifest.last_id, manifest.last_gone
        if self.writer:
            remove_unnamed(self.folder, manifest)  # type: ignore[arg-type]
        broken = []
        for entry in manifest.spaces:
            graph = open_graph(self.folder, entry, view=not self.writer)  # type: ignore[arg-type]
            if graph is not None and self._matches(graph, entry, query):
                self._spaces[(entry.model, entry.cls)] = Space(base=graph, saved=entry)
            else:
                broken.append(entry)
        if broken and tries > 1 and stamp(self.folder) != self._stamp:  # type: ignore[arg-type]
            self._open(query, tries - 1)  # the writer saved again meanwhile (and deleted
            return  # the files this manifest named): not damage, just late
        for entry in broken:
            space = Space(building=(0, entry.count))
            self._spaces[(entry.model, entry.cls)] = space
            if self.writer:
                space.base = self._build(query, (entry.model, entry.cls), None)
                space.building = None
                self._changed()
        if broken and not self.writer:
            self._repair = threading.Thread(
                target=self._rebuild, args=(query, self._generation), daemon=True
            )
            self._repair.start()

    def _usable(self, manifest: Manifest, query: Query) -> bool:
        if manifest.params != PARAMS:
            log.info(
                "vector graphs were built with %s, now %s: rebuilding", manifest.params, PARAMS
            )
            return False
        rows = query("SELECT seq FROM sqlite_sequence WHERE name = 'sightings'", ())
        if manifest.last_id > (rows[0][0] if rows else 0):
            log.warning("the saved vector graphs are newer than the store: rebuilding")
            return False
        return True

    @staticmethod
    def _matches(graph: Any, entry: SpaceFile, query: Query) -> bool:
        """The graph's newest vector is the store's (or was deleted since the save): the
        file belongs to this store, not to a restored backup or another hub."""
        if entry.check_key < 0:
            return True
        if not graph.contains(entry.check_key):
            return False
        rows = query("SELECT embedding FROM sightings WHERE vec_id = ?", (entry.check_key,))
        if not rows:
            return bool(query("SELECT 1 FROM sightings_gone WHERE vec_id = ?", (entry.check_key,)))
        stored = unit(np.frombuffer(rows[0][0], np.float32))
        saved = unit(np.asarray(graph.get(entry.check_key), np.float32))
        if float(stored @ saved) > 0.999:
            return True
        log.warning("vector index file %s belongs to another store: rebuilding", entry.file)
        return False

    def _build(self, query: Query, key: SpaceKey, space: Space | None) -> Any:
        """A graph of the store's vectors of ``key`` up to the saved ``last_id``."""
        graph = None
        after, done = 0, 0
        while True:
            rows = _rows(
                query,
                "SELECT vec_id, embedding FROM sightings WHERE model = ? AND cls = ? "
                "AND vec_id > ? AND vec_id <= ? ORDER BY vec_id LIMIT ?",
                (key[0], key[1], after, self._last_id, SYNC_CHUNK),
            )
            if not rows:
                return graph if graph is not None else new_graph(1)
            dim = len(rows[0][1]) // 4
            graph = graph if graph is not None else new_graph(dim)
            _add(graph, rows, self.threads)
            after, done = rows[-1][0], done + len(rows)
            if space is not None and space.building is not None:
                space.building = (done, max(done, space.building[1]))

    def _rebuild(self, query: Query, generation: int) -> None:
        """A reader's background repair of the spaces whose saved graph it could not use."""
        try:
            for key, space in list(self._spaces.items()):
                if space.building is None:
                    continue
                started = time.monotonic()
                graph = self._build(query, key, space)
                with self._lock:
                    if self._generation != generation:
                        return  # the writer saved meanwhile: the new files are used
                    space.base, space.building = graph, None
                log.info(
                    "vector graph %s/%s rebuilt: %d vectors in %.0f s",
                    *key,
                    len(graph),
                    time.monotonic() - started,
                )
        except Exception as err:  # the store closed under it: nothing to repair any more
            log.warning("vector graph rebuild stopped: %s", err)

    # ---- following the store -----------------------------------------------------------

    def sync(self, query: Query) -> int:
        """Take in what the store changed since the last sync: remove the vectors replaced
        or deleted, add the new ones; a reader first opens a newer save. ``query`` runs
        one SQL statement under the store's lock (held per statement, not while a graph
        grows). Returns how many were added."""
        with self._lock:
            if not self._opened or (
                not self.writer and self.folder and stamp(self.folder) != self._stamp
            ):
                self._open(query)
            gone = query(
                "SELECT seq, vec_id FROM sightings_gone WHERE seq > ? ORDER BY seq",
                (self._last_gone,),
            )
            if gone:
                self._remove(np.array([k for _, k in gone], dtype=np.uint64))
                self._last_gone = gone[-1][0]
            added = 0
            while True:
                rows = query(
                    "SELECT vec_id, model, cls, embedding FROM sightings WHERE vec_id > ? "
                    "ORDER BY vec_id LIMIT ?",
                    (self._last_id, SYNC_CHUNK),
                )
                if not rows:
                    return added
                by_space: dict[SpaceKey, list[tuple[int, bytes]]] = {}
                for vec_id, model, cls, blob in rows:
                    by_space.setdefault((model, cls), []).append((vec_id, blob))
                for key, items in by_space.items():
                    self._take(key, items)
                added += len(rows)
                self._last_id = rows[-1][0]
                if added % (10 * SYNC_CHUNK) == 0:
                    log.info("vector graphs: %d vectors taken in from the store", added)

    def _changed(self, n: int = 1) -> None:
        if self._changes == 0:
            self._first_change = time.monotonic()
        self._changes += n

    def _take(self, key: SpaceKey, rows: list[tuple[int, bytes]]) -> None:
        space = self._spaces.setdefault(key, Space())
        dim = len(rows[0][1]) // 4
        if self.writer:
            if space.base is None or (len(space.base) == 0 and space.base.ndim != dim):
                space.base = new_graph(dim)
            _add(space.base, rows, self.threads)
            space.saved = None
            self._changed(len(rows))
        else:
            space.delta = space.delta if space.delta is not None else new_graph(dim)
            _add(space.delta, rows, self.threads)

    def _remove(self, keys: np.ndarray) -> None:
        for space in self._spaces.values():
            for graph in space.graphs():
                held = keys[np.asarray(graph.contains(keys), dtype=bool)]
                if not len(held):
                    continue
                if self.writer:
                    graph.remove(held)
                    space.saved = None
                    self._changed(len(held))
                elif space.delta is not None and graph is space.delta:
                    space.delta.remove(held)
                else:  # a read-only saved graph: its removed keys are skipped
                    space.removed.update(int(k) for k in held)

    # ---- saving (the writer) -------------------------------------------------------

    def due(self) -> bool:
        """Whether enough changed, or long enough ago, to save."""
        return self._changes >= SAVE_AFTER_CHANGES or (
            self._changes > 0 and time.monotonic() - self._first_change >= SAVE_AFTER_S
        )

    def save(self) -> bool:
        """Write the changed graphs and a new manifest; False when nothing changed."""
        if not self.writer or self.folder is None:
            return False
        with self._lock:
            if self._changes == 0:
                return False
            generation = self._generation + 1
            entries = []
            for i, ((model, cls), space) in enumerate(sorted(self._spaces.items())):
                graph = space.base
                if graph is None:
                    continue
                if space.saved is None:
                    name = f"{generation}-{i}.usearch"
                    keys = np.asarray(graph.keys, dtype=np.int64) if len(graph) else None
                    space.saved = SpaceFile(
                        model=model,
                        cls=cls,
                        file=name,
                        size=save_graph(graph, self.folder, name),
                        count=len(graph),
                        check_key=int(keys.max()) if keys is not None else -1,
                    )
                entries.append(space.saved)
            write_manifest(
                self.folder,
                Manifest(
                    saved_at=time.time(),
                    generation=generation,
                    last_id=self._last_id,
                    last_gone=self._last_gone,
                    params=PARAMS,
                    spaces=tuple(entries),
                ),
            )
            self._generation = generation
            self._changes = 0
            return True

    # ---- searching -----------------------------------------------------------------

    def candidates(
        self, model: str, cls: str, vector: np.ndarray, n: int
    ) -> list[tuple[int, float]]:
        """The ``n`` nearest keys of (model, cls) with their cosine (from the stored
        float16 vectors), best first. Raises ``IndexNotReadyError`` while rebuilt."""
        with self._lock:
            space = self._spaces.get((model, cls))
            if space is None:
                return []
            if space.building is not None:
                raise IndexNotReadyError(cls, *space.building)
            found: list[tuple[int, float]] = []
            for graph in space.graphs():
                graph.expansion_search = self.expansion_search
                m = graph.search(vector, min(n + len(space.removed), len(graph)))
                found += zip(m.keys.tolist(), (1.0 - m.distances).tolist(), strict=True)
        if space.removed:
            found = [f for f in found if f[0] not in space.removed]
        found.sort(key=lambda f: -f[1])
        return found[:n]

    def size(self, model: str, cls: str) -> int:
        space = self._spaces.get((model, cls))
        return 0 if space is None else space.size()

    def ready(self, model: str, cls: str) -> bool:
        space = self._spaces.get((model, cls))
        return space is None or space.building is None

    def wait(self, timeout: float | None = None) -> None:
        """Until a reader's background rebuild (if any) is done."""
        if self._repair is not None:
            self._repair.join(timeout)


def rerank(
    vector: np.ndarray,
    found: Sequence[tuple[str, str, float, np.ndarray, str | None]],
    cls: ObjectClass,
    k: int,
) -> list[SimilarHit]:
    """Exact cosine of each candidate (tracklet, camera, seen_at, unit vector, track),
    best first, one hit per track (or per tracklet not yet in a track); shared by every
    backend."""
    if not found:
        return []
    matrix = np.stack([f[3] for f in found]).astype(np.float32)
    if matrix.shape[1] != vector.shape[0]:
        raise ValueError(f"query has {vector.shape[0]} dimensions, the index {matrix.shape[1]}")
    scores = matrix @ vector
    hits: list[SimilarHit] = []
    seen: set[str] = set()
    for i in np.argsort(-scores, kind="stable"):
        tracklet, camera, at, _, track = found[i]
        key = track or tracklet
        if key in seen:
            continue
        seen.add(key)
        hits.append(
            SimilarHit(
                track_id=track,
                tracklet=tracklet,
                camera_id=camera,
                cls=cls,
                seen_at=at,
                score=round(float(scores[i]), 6),
            )
        )
        if len(hits) == k:
            break
    return hits
