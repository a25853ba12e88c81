"""``civicsight bench search --tracks N --json``: indexing speed, query latency and kNN
recall of the track store (SQLite by default) on N synthetic tracks of realistic shape.

Each track has a class (60 % vehicles, 40 % persons), one to three tracklets on 20
cameras over 30 days, an appearance vector per tracklet and, for vehicles, a plate read
per tracklet in one of five European formats (15 % of reads carry a typical OCR misread
such as B->8 or O->0). Vectors (128-d by default) are drawn so that, like re-ID
embeddings, they lie near a low-dimensional manifold (24 latent dimensions projected and
noised) and the tracklets of one track are close to each other (``search_world.py``).
Queries:

- plate exact: a stored plate; partial: patterns such as ``AB?12*``, ``*23CD``, ``*X123*``
  made from stored plates; fuzzy: a stored plate with one misread and one real error,
  within distance 1.25;
- kNN: another view of a stored tracklet (its vector plus noise), top 20 tracks of its
  class. Recall@20 compares the tracks found with exact (brute-force) search.

Only the store calls are timed (building the events is not). What is reported:

- ``index_docs_per_s``: what the indexer writes (tracks, plate reads, appearances);
- ``vector_index_build_s``: the indexer building the vector graphs from the whole store
  and saving them (once; the indexer then keeps them up to date as vectors arrive);
- ``vector_index_open_s``: a new reader (the API at start) opening the saved graphs and
  answering its first image search;
- ``api_ready_s`` (``--api-start``): the API process started on the store until it
  answers an image search over HTTP with the graphs open;
- ``knn_*``: the median over ``--rounds`` rounds of the same queries; ``recall_curve``:
  latency and recall for each graph search breadth (``expansion_search``);
- ``int8_curve`` (``--curve``): the Elasticsearch mapping's int8 graph, built with
  usearch on a sample, for each ``k`` / ``num_candidates`` (see ``int8_curve``);
- ``knn_*_loaded`` (``--beside-demo``): the same queries while a demo hub (4 cameras)
  runs beside the benchmark.

``--dir`` keeps the store; given a folder that already holds one, the benchmark reuses
it (no writing, and no graph building when its graphs are saved).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from civicsight.bench.output import cpu_info, cpu_name, emit, percentiles, store_options
from civicsight.bench.search_api import api_ready
from civicsight.bench.search_es import int8_curve
from civicsight.bench.search_world import (
    MODEL,
    World,
    fuzzy_queries,
    partial_patterns,
)
from civicsight.store import PlateQuery, SimilarQuery
from civicsight.store.sqlite import SqliteTrackStore, vector_folder
from civicsight.store.vector_files import read_manifest

EF_CURVE = (64, 128, 192, 256, 384, 512, 768)
K = 20


def timed(fn: Callable[[str], object], queries: list[str]) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - t)
    return out


def exact_tracks(
    matrix: np.ndarray, track_of_row: np.ndarray, vector: np.ndarray, k: int
) -> list[int]:
    scores = matrix @ vector
    top = np.argpartition(-scores, min(len(scores) - 1, 50 * k))[: 50 * k]
    seen: list[int] = []
    for row in top[np.argsort(-scores[top], kind="stable")]:
        t = int(track_of_row[row])
        if t not in seen:
            seen.append(t)
            if len(seen) == k:
                break
    return seen


@dataclass(frozen=True)
class KnnQuery:
    cls: str
    vector: np.ndarray
    truth: frozenset[int]  # the exact top-k track numbers


def fill(path: Path, args: argparse.Namespace) -> dict[str, float]:
    """Write ``args.tracks`` synthetic tracks as the indexer would."""
    store = SqliteTrackStore(path)
    store.open()
    world = World(args.dim, args.seed)
    write_s, docs, started = 0.0, 0, time.perf_counter()
    for start in range(0, args.tracks, args.batch):
        events, _ = world.batch(start, min(args.batch, args.tracks - start))
        t = time.perf_counter()
        store.write(events, time.time())
        write_s += time.perf_counter() - t
        docs += len(events)
    store.close()
    return {
        "docs": docs,
        "index_docs_per_s": round(docs / write_s, 1),
        "build_wall_s": round(time.perf_counter() - started, 1),
    }


def build_index(path: Path) -> float:
    """The indexer's side: build the vector graphs from the store and save them."""
    store = SqliteTrackStore(path, writer=True)
    started = time.perf_counter()
    store.open()
    store.save_index(force=True)
    store.close()
    return time.perf_counter() - started


def knn_queries(path: Path, n: int, seed: int) -> list[KnnQuery]:
    """``n`` queries (60 % cars, 40 % persons): a stored vector plus noise, with the
    exact answer from the store's own vectors."""
    import sqlite3

    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rng = np.random.default_rng(seed)
    out = []
    for cls, share in (("car", 0.6), ("person", 0.4)):
        rows = db.execute(
            "SELECT tracklet_id, embedding FROM sightings WHERE model = ? AND cls = ?",
            (MODEL, cls),
        ).fetchall()
        matrix = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1)
        tracks = np.array([int(r[0].rsplit("/", 1)[1]) for r in rows])
        for row in rng.choice(len(rows), round(n * share), replace=False):
            q = matrix[row] + 0.25 * rng.standard_normal(matrix.shape[1]).astype(
                np.float32
            ) / np.sqrt(matrix.shape[1])
            q /= np.linalg.norm(q)
            out.append(KnnQuery(cls, q, frozenset(exact_tracks(matrix, tracks, q, K))))
    db.close()
    random.Random(seed).shuffle(out)
    return out


def stored_plates(path: Path, n: int, seed: int) -> list[str]:
    import sqlite3

    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    texts = [r[0] for r in db.execute("SELECT text FROM plate_texts").fetchall()]
    db.close()
    return random.Random(seed).sample(texts, min(n, len(texts)))


def knn_round(store: SqliteTrackStore, queries: list[KnnQuery]) -> dict[str, float]:
    latencies, recalls = [], []
    for q in queries:
        t = time.perf_counter()
        hits = store.search_similar(SimilarQuery(q.vector, q.cls, MODEL, k=K))  # type: ignore[arg-type]
        latencies.append(time.perf_counter() - t)
        found = {int(h.track_id[2:]) for h in hits if h.track_id}
        recalls.append(len(found & q.truth) / len(q.truth))
    p = percentiles(latencies)
    return {"p50_ms": p["p50"], "p95_ms": p["p95"], "recall": round(statistics.mean(recalls), 4)}


def knn_rounds(store: SqliteTrackStore, queries: list[KnnQuery], rounds: int) -> dict[str, object]:
    each = [knn_round(store, queries) for _ in range(rounds)]
    return {
        "p50_ms": statistics.median(r["p50_ms"] for r in each),
        "p95_ms": statistics.median(r["p95_ms"] for r in each),
        "recall": statistics.median(r["recall"] for r in each),
        "rounds": each,
    }


def recall_curve(store: SqliteTrackStore, queries: list[KnnQuery]) -> list[dict[str, float]]:
    index = store.vector_index
    chosen = index.expansion_search
    out = []
    for ef in EF_CURVE:
        index.expansion_search = ef
        knn_round(store, queries[:20])  # warm the pages this breadth visits
        out.append({"expansion_search": ef, **knn_round(store, queries)})
    index.expansion_search = chosen
    return out


def beside_demo(store: SqliteTrackStore, queries: list[KnnQuery], rounds: int) -> dict[str, object]:
    from civicsight.bench.hub import demo_hub, demo_media, wait_first_version

    with demo_hub(4, demo_media()) as hub:
        wait_first_version(hub, timeout=300)
        return knn_rounds(store, queries, rounds)


def run(args: argparse.Namespace) -> dict[str, object]:
    folder = Path(args.dir or tempfile.mkdtemp(prefix="civicsight-bench-search-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tracks.db"
    filled = fill(path, args) if not path.exists() else {}
    saved = read_manifest(vector_folder(path)) is not None
    build_s = None if saved and not filled else build_index(path)
    queries = knn_queries(path, args.queries, args.seed)

    store = SqliteTrackStore(path)  # the API's side: open the saved graphs
    started = time.perf_counter()
    store.open()
    store.warm()
    store.search_similar(SimilarQuery(queries[0].vector, queries[0].cls, MODEL, k=K))  # type: ignore[arg-type]
    open_s = time.perf_counter() - started

    rng = random.Random(args.seed + 1)
    sample = stored_plates(path, args.queries, args.seed)
    exact = timed(lambda p: store.search_plates(PlateQuery("exact", p)), sample)
    partial = timed(
        lambda p: store.search_plates(PlateQuery("pattern", p)), partial_patterns(sample, rng)
    )
    fuzzy = timed(
        lambda p: store.search_plates(PlateQuery("fuzzy", p, max_distance=1.25)),
        fuzzy_queries(sample, rng),
    )
    knn = knn_rounds(store, queries, args.rounds)
    curve = recall_curve(store, queries) if args.curve else None
    persons = [q.vector for q in queries if q.cls == "person"]
    es_curve = int8_curve(path, persons) if args.curve else None
    loaded = beside_demo(store, queries, args.rounds) if args.beside_demo else None
    store.close()
    ready_s = api_ready(path) if args.api_start else None
    graphs_mb = sum(f.stat().st_size for f in vector_folder(path).glob("*.usearch")) / 1e6
    size_mb = sum(f.stat().st_size for f in folder.glob("tracks.db*")) / 1e6
    tracks = store_count(path)
    if not args.keep and not args.dir:
        shutil.rmtree(folder)
    pe, pp, pf = (percentiles(x) for x in (exact, partial, fuzzy))
    return {
        "benchmark": "search",
        "backend": "sqlite",
        "tracks": tracks,
        **filled,
        "reused_store": not filled,
        "dim": queries[0].vector.shape[0],
        "queries_per_type": len(sample),
        "vector_index_build_s": None if build_s is None else round(build_s, 1),
        "vector_index_open_s": round(open_s, 2),
        "vector_index_mb": round(graphs_mb, 1),
        "api_ready_s": None if ready_s is None else round(ready_s, 2),
        "expansion_search": store.vector_index.expansion_search,
        "plate_exact_p50_ms": pe["p50"],
        "plate_exact_p95_ms": pe["p95"],
        "plate_partial_p50_ms": pp["p50"],
        "plate_partial_p95_ms": pp["p95"],
        "plate_fuzzy_p50_ms": pf["p50"],
        "plate_fuzzy_p95_ms": pf["p95"],
        "knn_p50_ms": knn["p50_ms"],
        "knn_p95_ms": knn["p95_ms"],
        "knn_recall_at_20": knn["recall"],
        "knn_rounds": knn["rounds"],
        "knn_p50_ms_loaded": loaded and loaded["p50_ms"],
        "knn_p95_ms_loaded": loaded and loaded["p95_ms"],
        "knn_recall_at_20_loaded": loaded and loaded["recall"],
        "recall_curve": curve,
        "int8_curve": es_curve,
        "store_mb": round(size_mb, 1),
        "machine": cpu_name(),
        "cpu": cpu_info(),
        "measured_at": time.strftime("%Y-%m-%d"),
    }


def store_count(path: Path) -> int:
    import sqlite3

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT count(*) FROM tracks").fetchone()[0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="civicsight bench search", description=__doc__)
    parser.add_argument("--tracks", type=int, default=100_000, help="tracks to generate")
    parser.add_argument("--dim", type=int, default=128, help="appearance vector size")
    parser.add_argument("--queries", type=int, default=200, help="queries per type")
    parser.add_argument("--batch", type=int, default=2000, help="tracks per write batch")
    parser.add_argument("--rounds", type=int, default=3, help="kNN rounds (median reported)")
    parser.add_argument("--curve", action="store_true", help="also the recall/latency curve")
    parser.add_argument(
        "--beside-demo", action="store_true", help="also the kNN rounds beside a demo hub"
    )
    parser.add_argument(
        "--api-start", action="store_true", help="also the API's start until image search"
    )
    parser.add_argument("--seed", type=int, default=7)
    store_options(parser)
    args = parser.parse_args(argv)
    emit(run(args), args.json, args.out)


if __name__ == "__main__":
    main()
