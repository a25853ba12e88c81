"""``civicsight bench search --tracks N --json``: indexing speed, query latency and kNN
recall of the track store (SQLite by default) on N synthetic tracks of realistic shape.

Each track has a class (60 % vehicles, 40 % persons), one to three tracklets on 20
cameras over 30 days, an appearance vector per tracklet and, for vehicles, a plate read
per tracklet in one of five European formats (15 % of reads carry a typical OCR misread
such as B->8 or O->0). Vectors (128-d by default) are drawn so that, like re-ID
embeddings, they lie near a low-dimensional manifold (24 latent dimensions projected and
noised) and the tracklets of one track are close to each other. Queries:

- plate exact: a stored plate; partial: patterns such as ``AB?12*``, ``*23CD``, ``*X123*``
  made from stored plates; fuzzy: a stored plate with one misread and one real error,
  within distance 1.25;
- kNN: another view of a stored tracklet (its vector plus noise), top 20 tracks of its
  class. Recall@20 compares the tracks found with exact (brute-force) search.

Only the store calls are timed (building the events is not). ``index_docs_per_s`` is
what the indexer writes (tracks, plate reads, appearances); ``vector_index_build_s`` is
the time the reader (the API) takes to build its HNSW graphs from the store once.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from civicsight.bench.output import cpu_name, emit, store_options
from civicsight.events import Appearance, PlateRead, TrackletRef, TrackUpdate, tracklet_id
from civicsight.store import Indexed, PlateQuery, SimilarQuery
from civicsight.store.sqlite import SqliteTrackStore

T0 = 1_700_000_000.0
DAYS = 30
CAMERAS = [f"cam-{i:02d}" for i in range(20)]
VEHICLES = ("car", "car", "car", "truck", "bus", "motorcycle")
FORMATS = ("LLDDDLL", "LLDDLLL", "LLLDDDD", "DLLLDDD", "LDDDLLL")
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
MISREAD = {"B": "8", "8": "B", "O": "0", "0": "O", "S": "5", "5": "S", "Z": "2", "2": "Z",
           "G": "6", "6": "G", "I": "1", "1": "I", "D": "0"}  # fmt: skip
MODEL = "bench-reid@1"
LATENT = 24


def plate_text(rng: random.Random) -> str:
    fmt = rng.choice(FORMATS)
    return "".join(rng.choice(LETTERS) if c == "L" else str(rng.randrange(10)) for c in fmt)


def misread(text: str, rng: random.Random) -> str:
    spots = [i for i, c in enumerate(text) if c in MISREAD]
    if not spots:
        return text
    i = rng.choice(spots)
    return text[:i] + MISREAD[text[i]] + text[i + 1 :]


class World:
    """Deterministic synthetic tracks, generated in batches."""

    def __init__(self, dim: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.np = np.random.default_rng(seed)
        self.dim = dim
        self.proj = self.np.standard_normal((LATENT, dim)).astype(np.float32)

    def vectors(self, n: int) -> np.ndarray:
        v = self.np.standard_normal((n, LATENT)).astype(np.float32) @ self.proj
        v += 0.6 * self.np.standard_normal((n, self.dim)).astype(np.float32) * np.sqrt(LATENT)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def batch(self, start: int, n: int) -> tuple[list[Indexed], list[tuple[str, str, str]]]:
        """Events of tracks ``start .. start+n``, and (tracklet, class, plate) per tracklet."""
        events: list[Indexed] = []
        facts: list[tuple[str, str, str]] = []
        bases = self.vectors(n)
        for i in range(n):
            rng = self.rng
            cls = "person" if rng.random() < 0.4 else rng.choice(VEHICLES)
            legs = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
            t = T0 + rng.random() * DAYS * 86400
            plate = plate_text(rng) if cls != "person" else ""
            refs = []
            for leg, cam in enumerate(rng.sample(CAMERAS, legs)):
                duration = rng.uniform(5, 120)
                ref = TrackletRef(
                    camera_id=cam, track_id=start + i, first_seen=t, last_seen=t + duration
                )
                refs.append(ref)
                name = tracklet_id(cam, start + i)
                noise = 0.25 * self.np.standard_normal(self.dim).astype(np.float32)
                vec = bases[i] + noise / np.sqrt(self.dim)
                events.append(
                    Appearance(
                        camera_id=cam,
                        track_id=start + i,
                        captured_at=t + duration / 2,
                        cls=cls,
                        quality=round(rng.uniform(0.3, 1.0), 3),
                        model=MODEL,
                        embedding=tuple((vec / np.linalg.norm(vec)).tolist()),
                    )
                )
                if plate:
                    text = misread(plate, rng) if rng.random() < 0.15 else plate
                    events.append(
                        PlateRead(
                            camera_id=cam,
                            track_id=start + i,
                            captured_at=t + duration / 3,
                            text=text,
                            conf=round(rng.uniform(0.5, 0.99), 3),
                        )
                    )
                facts.append((name, cls, plate))
                t += duration + rng.uniform(30, 300) * (leg + 1)
            events.append(
                TrackUpdate(
                    track_id=f"t-{start + i:08d}",
                    version=1,
                    cls=cls,
                    tracklets=tuple(refs),
                    first_seen=refs[0].first_seen,
                    last_seen=refs[-1].last_seen,
                    closed=True,
                    emitted_at=refs[-1].last_seen + 5,
                )
            )
        return events, facts


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "p50": round(statistics.median(ms), 2),
        "p95": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 2),
    }


def timed(fn: Callable[[str], object], queries: list[str]) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - t)
    return out


def partial_patterns(plates: list[str], rng: random.Random) -> list[str]:
    out = []
    for i, p in enumerate(plates):
        shape = i % 3
        if shape == 0:
            out.append(p[:2] + "?" + p[3:5] + "*")  # AB?12*
        elif shape == 1:
            out.append("*" + p[-4:])  # *23CD
        else:
            k = rng.randrange(1, max(2, len(p) - 4))
            out.append("*" + p[k : k + 4] + "*")  # *X123*
    return out


def fuzzy_queries(plates: list[str], rng: random.Random) -> list[str]:
    out = []
    for p in plates:
        q = misread(p, rng)
        i = rng.randrange(len(q))
        q = q[:i] + rng.choice([c for c in LETTERS if c != q[i]]) + q[i + 1 :]
        out.append(q)
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


def run(args: argparse.Namespace) -> dict[str, object]:
    folder = Path(args.dir or tempfile.mkdtemp(prefix="civicsight-bench-search-"))
    folder.mkdir(parents=True, exist_ok=True)
    store = SqliteTrackStore(folder / "tracks.db")
    store.open()
    world = World(args.dim, args.seed)
    rng = random.Random(args.seed + 1)
    write_s = 0.0
    docs = 0
    plates: list[str] = []
    rows: dict[str, list[tuple[str, int]]] = {}  # class -> (tracklet, track number)
    vectors: dict[str, list[np.ndarray]] = {}
    started = time.perf_counter()
    for start in range(0, args.tracks, args.batch):
        events, facts = world.batch(start, min(args.batch, args.tracks - start))
        t = time.perf_counter()
        store.write(events, time.time())
        write_s += time.perf_counter() - t
        docs += len(events)
        for e in events:
            if isinstance(e, Appearance):
                rows.setdefault(e.cls, []).append((e.tracklet_id, e.track_id))
                vectors.setdefault(e.cls, []).append(np.asarray(e.embedding, np.float32))
        plates += [p for _, _, p in facts if p and rng.random() < 0.01]
    build_total_s = time.perf_counter() - started
    mats = {c: np.stack(v) for c, v in vectors.items()}
    del vectors
    t = time.perf_counter()
    store.search_similar(SimilarQuery(mats["car"][0], "car", MODEL, k=1))  # builds the graphs
    graph_s = time.perf_counter() - t

    sample = rng.sample(plates, min(args.queries, len(plates)))
    exact = timed(lambda p: store.search_plates(PlateQuery("exact", p)), sample)
    partial = timed(
        lambda p: store.search_plates(PlateQuery("pattern", p)), partial_patterns(sample, rng)
    )
    fuzzy = timed(
        lambda p: store.search_plates(PlateQuery("fuzzy", p, max_distance=1.25)),
        fuzzy_queries(sample, rng),
    )
    knn: list[float] = []
    recalls: list[float] = []
    for _ in range(args.queries):
        cls = "person" if rng.random() < 0.4 else "car"
        row = rng.randrange(len(mats[cls]))
        q = mats[cls][row] + 0.25 * world.np.standard_normal(args.dim).astype(np.float32) / np.sqrt(
            args.dim
        )
        q /= np.linalg.norm(q)
        t = time.perf_counter()
        hits = store.search_similar(SimilarQuery(q, cls, MODEL, k=20))  # type: ignore[arg-type]
        knn.append(time.perf_counter() - t)
        found = {int(h.track_id[2:]) for h in hits if h.track_id}
        truth = exact_tracks(mats[cls], np.array([n for _, n in rows[cls]]), q, 20)
        recalls.append(len(found & set(truth)) / len(truth))
    size_mb = sum(f.stat().st_size for f in folder.glob("tracks.db*")) / 1e6
    store.close()
    if not args.keep and not args.dir:
        shutil.rmtree(folder)
    pe, pp, pf, pk = (percentiles(x) for x in (exact, partial, fuzzy, knn))
    return {
        "benchmark": "search",
        "backend": "sqlite",
        "tracks": args.tracks,
        "docs": docs,
        "dim": args.dim,
        "queries_per_type": len(sample),
        "index_docs_per_s": round(docs / write_s, 1),
        "vector_index_build_s": round(graph_s, 1),
        "build_wall_s": round(build_total_s, 1),
        "plate_exact_p50_ms": pe["p50"],
        "plate_exact_p95_ms": pe["p95"],
        "plate_partial_p50_ms": pp["p50"],
        "plate_partial_p95_ms": pp["p95"],
        "plate_fuzzy_p50_ms": pf["p50"],
        "plate_fuzzy_p95_ms": pf["p95"],
        "knn_p50_ms": pk["p50"],
        "knn_p95_ms": pk["p95"],
        "knn_recall_at_20": round(statistics.mean(recalls), 4),
        "store_mb": round(size_mb, 1),
        "machine": cpu_name(),
        "measured_at": time.strftime("%Y-%m-%d"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="civicsight bench search", description=__doc__)
    parser.add_argument("--tracks", type=int, default=100_000, help="tracks to generate")
    parser.add_argument("--dim", type=int, default=128, help="appearance vector size")
    parser.add_argument("--queries", type=int, default=200, help="queries per type")
    parser.add_argument("--batch", type=int, default=2000, help="tracks per write batch")
    parser.add_argument("--seed", type=int, default=7)
    store_options(parser)
    args = parser.parse_args(argv)
    emit(run(args), args.json, args.out)


if __name__ == "__main__":
    main()
