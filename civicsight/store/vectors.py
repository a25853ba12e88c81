"""The approximate vector index of the SQLite store: HNSW (usearch), cosine, int8.

The SQLite table ``sightings`` is the truth: every appearance vector (float32) with an
id that only grows (a better vector for a tracklet is a new row, the old id is logged in
``sightings_gone``). ``VectorIndex`` follows those two tables (``sync``), so the API
process sees what the indexer process wrote. One HNSW graph per (model, class):
vectors of different models are never compared. The graph only proposes candidates;
the store re-ranks them exactly with the float32 vectors.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from civicsight.events import ObjectClass
from civicsight.store import SimilarHit

CONNECTIVITY = 16  # HNSW links per node
EXPANSION_ADD = 64  # candidate list while building
EXPANSION_SEARCH = 128  # candidate list while searching
SYNC_CHUNK = 50_000
Query = Callable[[str, tuple[object, ...]], list[tuple[Any, ...]]]


def unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class VectorIndex:
    """HNSW graphs keyed by (model, class), kept in step with the sightings table."""

    def __init__(self, threads: int = 0) -> None:
        self._graphs: dict[tuple[str, str], Any] = {}
        self._where: dict[int, tuple[str, str]] = {}
        self._last_id = 0
        self._last_gone = 0
        self.threads = threads
        self._lock = threading.Lock()  # one sync at a time; searches wait for it

    def _graph(self, space: tuple[str, str], dim: int) -> Any:
        graph = self._graphs.get(space)
        if graph is None:
            from usearch.index import Index

            graph = Index(
                ndim=dim,
                metric="cos",
                dtype="i8",
                connectivity=CONNECTIVITY,
                expansion_add=EXPANSION_ADD,
                expansion_search=EXPANSION_SEARCH,
            )
            self._graphs[space] = graph
        return graph

    def sync(self, query: Query) -> int:
        """Add the vectors written since the last sync, drop the ones replaced or deleted.
        ``query`` runs one SQL statement (under the store's lock, which is thus held only
        per chunk, not while the graph grows). Returns how many were added."""
        with self._lock:
            gone = query(
                "SELECT seq, vec_id FROM sightings_gone WHERE seq > ? ORDER BY seq",
                (self._last_gone,),
            )
            for seq, vec_id in gone:
                space = self._where.pop(vec_id, None)
                if space is not None:
                    self._graphs[space].remove(vec_id)
                self._last_gone = seq
            added = 0
            while True:
                rows = query(
                    "SELECT vec_id, model, cls, embedding FROM sightings WHERE vec_id > ? "
                    "ORDER BY vec_id LIMIT ?",
                    (self._last_id, SYNC_CHUNK),
                )
                if not rows:
                    return added
                by_space: dict[tuple[str, str], list[tuple[int, bytes]]] = {}
                for vec_id, model, cls, blob in rows:
                    by_space.setdefault((model, cls), []).append((vec_id, blob))
                for space, items in by_space.items():
                    keys = np.array([k for k, _ in items], dtype=np.uint64)
                    vectors = np.frombuffer(b"".join(b for _, b in items), np.float32)
                    vectors = vectors.reshape(len(items), -1)
                    self._graph(space, vectors.shape[1]).add(keys, vectors, threads=self.threads)
                    self._where.update((int(k), space) for k in keys)
                added += len(rows)
                self._last_id = rows[-1][0]

    def candidates(self, model: str, cls: str, vector: np.ndarray, n: int) -> list[int]:
        with self._lock:
            graph = self._graphs.get((model, cls))
            if graph is None or len(graph) == 0:
                return []
            found = graph.search(vector, min(n, len(graph)))
        return [int(k) for k in found.keys]

    def size(self, model: str, cls: str) -> int:
        graph = self._graphs.get((model, cls))
        return 0 if graph is None else len(graph)


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
