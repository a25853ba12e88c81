"""The saved vector graphs of the SQLite store: the indexer saves them, the API opens them
(not rebuilds them), follows what came after, and repairs what does not match."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from civicsight.events import Appearance
from civicsight.store import IndexNotReadyError, SimilarQuery
from civicsight.store.sqlite import SqliteTrackStore, vector_folder
from civicsight.store.vector_files import MANIFEST

DIM = 32
N = 600


def look(i: int, v: np.ndarray, at: float = 1000.0, quality: float = 0.5) -> Appearance:
    return Appearance(
        camera_id="cam-a" if i % 2 else "cam-b",
        track_id=i,
        captured_at=at + i,
        cls="car",
        quality=quality,
        model="m@1",
        embedding=tuple(v.tolist()),
    )


@pytest.fixture(autouse=True)
def graph_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The graph path (taken above 20,000 vectors) for every search here."""
    monkeypatch.setattr("civicsight.store.sqlite.EXACT_KNN_MAX", 0)


@pytest.fixture
def vectors() -> np.ndarray:
    return np.random.default_rng(11).standard_normal((N, DIM)).astype(np.float32)


def opened(path: Path, writer: bool = False) -> SqliteTrackStore:
    store = SqliteTrackStore(path, writer=writer)
    store.open()
    return store


def saved_store(path: Path, vectors: np.ndarray) -> None:
    """What the indexer leaves: every vector written, the graphs saved, the store closed."""
    writer = opened(path, writer=True)
    writer.write([look(i, v) for i, v in enumerate(vectors)], 1.0)
    assert writer.save_index(force=True)
    writer.close()


def nearest(store: SqliteTrackStore, v: np.ndarray, **kw: object) -> str:
    return store.search_similar(SimilarQuery(v, "car", "m@1", k=3, **kw))[0].tracklet  # type: ignore[arg-type]


def name(i: int) -> str:
    return f"cam-{'a' if i % 2 else 'b'}/{i}"


def test_the_reader_opens_the_saved_graphs_instead_of_rebuilding(
    tmp_path: Path, vectors: np.ndarray
) -> None:
    """Guards the slow start: the API rebuilt every graph from the store at each start."""
    saved_store(tmp_path / "t.db", vectors)
    reader = opened(tmp_path / "t.db")
    assert reader.warm() == 0  # nothing taken in from the store: all of it was saved
    assert reader.vector_index.size("m@1", "car") == N
    assert all(nearest(reader, vectors[i]) == name(i) for i in range(0, N, 37))
    reader.close()


def test_the_reader_follows_what_came_after_the_save(tmp_path: Path, vectors: np.ndarray) -> None:
    """Guards a saved graph hiding newer vectors and newer removals until the next save."""
    path = tmp_path / "t.db"
    saved_store(path, vectors)
    reader = opened(path)
    reader.warm()
    writer = opened(path, writer=True)
    new = np.random.default_rng(3).standard_normal((5, DIM)).astype(np.float32)
    writer.write([look(N + i, v) for i, v in enumerate(new)], 2.0)
    writer.write([look(7, -vectors[7], quality=0.9)], 2.0)  # a better crop replaces 7's
    assert nearest(reader, new[2]) == name(N + 2)  # not saved yet: the reader's own delta
    assert nearest(reader, vectors[7]) != name(7)
    assert nearest(reader, -vectors[7]) == name(7)
    assert writer.save_index(force=True)  # the reader now opens the new save
    assert nearest(reader, new[2]) == name(N + 2)
    assert nearest(reader, vectors[7]) != name(7)
    writer.close()
    reader.close()


@pytest.mark.parametrize("saved_after_purge", [False, True], ids=["followed", "reopened"])
def test_a_purged_track_is_never_returned(
    tmp_path: Path, vectors: np.ndarray, saved_after_purge: bool
) -> None:
    """Guards retention: a vector purged from the store kept matching from a saved graph."""
    path = tmp_path / "t.db"
    writer = opened(path, writer=True)
    writer.write([look(i, v, at=1000.0 if i < 300 else 5000.0) for i, v in enumerate(vectors)], 1)
    writer.save_index(force=True)
    reader = opened(path)
    reader.warm()
    writer.purge("appearances", 3000.0)  # the first 300
    if saved_after_purge:
        writer.save_index(force=True)
        reader.close()
        reader = opened(path)
    for i in (0, 5, 150, 299):
        hits = reader.search_similar(SimilarQuery(vectors[i], "car", "m@1", k=20))  # type: ignore[arg-type]
        assert all(int(h.tracklet.rsplit("/", 1)[1]) >= 300 for h in hits)
    writer.close()
    reader.close()


def damage_graph(folder: Path) -> None:
    path = sorted(folder.glob("*.usearch"))[0]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def damage_manifest(folder: Path) -> None:
    (folder / MANIFEST).write_text('{"format": 1, "gener')


def from_another_store(folder: Path) -> None:
    other = folder.parent / "other"
    rng = np.random.default_rng(99)
    saved_store(other / "t.db", rng.standard_normal((N, DIM)).astype(np.float32))
    shutil.rmtree(folder)
    shutil.copytree(vector_folder(other / "t.db"), folder)


def half_written_save(folder: Path) -> None:
    """A save that died before its manifest: the previous one still counts."""
    (folder / "9-0.usearch.tmp").write_bytes(b"\0" * 100)
    (folder / f"{MANIFEST}.tmp").write_text("{")


@pytest.mark.parametrize(
    "damage",
    [damage_graph, damage_manifest, from_another_store, half_written_save],
    ids=["truncated-graph", "torn-manifest", "another-stores-graph", "half-written-save"],
)
@pytest.mark.parametrize("who", ["reader", "writer"])
def test_damaged_graphs_are_rebuilt_from_the_store(
    tmp_path: Path, vectors: np.ndarray, damage: object, who: str
) -> None:
    """Guards wrong or missing answers after a crash, a partial write or a copied folder:
    the store is the truth, and what does not match it is rebuilt."""
    path = tmp_path / "t.db"
    saved_store(path, vectors)
    damage(vector_folder(path))  # type: ignore[operator]
    store = opened(path, writer=who == "writer")
    store.warm()
    assert store.vector_index.size("m@1", "car") == N
    assert all(nearest(store, vectors[i]) == name(i) for i in range(0, N, 37))
    store.close()
    if who == "writer":  # and saved again whole, without the leftovers
        manifest = json.loads((vector_folder(path) / MANIFEST).read_text())
        assert sorted(p.name for p in vector_folder(path).iterdir()) == sorted(
            [MANIFEST, *(s["file"] for s in manifest["spaces"])]
        )
        assert opened(path).warm() == 0


def test_while_a_graph_is_rebuilt_only_exact_searches_are_answered(
    tmp_path: Path, vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards an image search silently missing most of a class while its graph is being
    rebuilt: it is refused with the progress, and a narrow search is answered exactly."""
    path = tmp_path / "t.db"
    saved_store(path, vectors)
    damage_graph(vector_folder(path))
    monkeypatch.setattr("civicsight.store.sqlite.EXACT_KNN_MAX", 100)
    monkeypatch.setattr("civicsight.store.vectors.VectorIndex._rebuild", lambda *a: None)
    reader = opened(path)
    reader.warm()
    with pytest.raises(IndexNotReadyError, match="being rebuilt"):
        nearest(reader, vectors[10])
    narrow = nearest(reader, vectors[10], since=1005.0, until=1015.0)
    assert narrow == name(10)
    reader.close()


def test_a_killed_writer_loses_nothing(tmp_path: Path, vectors: np.ndarray) -> None:
    """Guards vectors written after the last save and before a kill -9: the next writer
    takes them in from the store."""
    path = tmp_path / "t.db"
    writer = opened(path, writer=True)
    writer.write([look(i, v) for i, v in enumerate(vectors[:300])], 1.0)
    writer.save_index(force=True)
    writer.write([look(i, v) for i, v in enumerate(vectors[300:], start=300)], 1.0)
    writer.save_index()  # not due: nothing saved
    writer.db.close()  # killed: no close(), so no last save
    again = opened(path, writer=True)
    assert again.warm() == 300
    assert nearest(again, vectors[450]) == name(450)
    again.close()
    assert opened(path).warm() == 0  # saved whole at close


def test_saved_graphs_are_readable_by_their_owner_only(tmp_path: Path, vectors: np.ndarray) -> None:
    """Guards appearance vectors (personal data) left world-readable beside an owner-only
    store."""
    saved_store(tmp_path / "t.db", vectors)
    folder = vector_folder(tmp_path / "t.db")
    assert folder.stat().st_mode & 0o077 == 0
    assert all(p.stat().st_mode & 0o077 == 0 for p in folder.iterdir())


def test_a_writer_with_nothing_to_save_saves_nothing(tmp_path: Path) -> None:
    """Guards an indexer that crashed at close on a store without appearance vectors."""
    writer = opened(tmp_path / "t.db", writer=True)
    assert not writer.save_index(force=True)
    writer.close()
    assert not vector_folder(tmp_path / "t.db").exists()
