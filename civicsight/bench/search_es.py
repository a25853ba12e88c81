"""What the Elasticsearch mapping's kNN settings give, measured without a cluster: the
same int8 HNSW graph built with usearch (``civicsight bench search --curve``)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from civicsight.bench.output import percentiles
from civicsight.bench.search_world import MODEL

K = 20

ES_CURVE = ((100, 200), (200, 400), (200, 800), (500, 1000))  # (k, num_candidates)
ES_SAMPLE = 150_000


def int8_curve(path: Path, queries: list[np.ndarray]) -> list[dict[str, float]]:
    """What the Elasticsearch mapping's graph (int8 HNSW, m 16, ef_construction 100)
    gives for each (k, num_candidates) of the kNN request, after the store's exact
    re-ranking, on one shard's worth of person vectors (the first ``ES_SAMPLE``): the
    same quantisation and graph built with usearch, as no cluster runs here. Recall@20
    of vectors against brute force on the same sample."""
    import sqlite3

    from usearch.index import Index

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT vec_id, embedding FROM sightings WHERE model = ? AND cls = 'person' "
            "ORDER BY vec_id LIMIT ?",
            (MODEL, ES_SAMPLE),
        ).fetchall()
    keys = np.array([r[0] for r in rows], dtype=np.uint64)
    matrix = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1)
    row_of = {int(k): i for i, k in enumerate(keys)}
    graph: Any = Index(ndim=matrix.shape[1], metric="cos", dtype="i8", connectivity=16,
                  expansion_add=100)  # fmt: skip
    graph.add(keys, matrix)
    probes = queries
    truths = [set(keys[np.argpartition(-(matrix @ q), K)[:K]].tolist()) for q in probes]
    out = []
    for k, candidates in ES_CURVE:
        graph.expansion_search = candidates
        latencies, recalls = [], []
        for q, truth in zip(probes, truths, strict=True):
            t = time.perf_counter()
            found = graph.search(q, k).keys
            scores = matrix[[row_of[int(f)] for f in found]] @ q
            best = set(found[np.argsort(-scores)[:K]].tolist())
            latencies.append(time.perf_counter() - t)
            recalls.append(len(best & truth) / K)
        p = percentiles(latencies)
        out.append({"k": k, "num_candidates": candidates, "p50_ms": p["p50"],
                    "p95_ms": p["p95"], "recall": round(statistics.mean(recalls), 4)})  # fmt: skip
    return out
