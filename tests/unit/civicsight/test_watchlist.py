"""The watchlist store and enrolment, with the real face models on the sample photos."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from civicsight.audit import AuditLog
from civicsight.faces import EnrolmentError, WatchlistIndex
from civicsight.models.runtimes.face_encoder import FaceEncoder
from civicsight.services.faces.logic import match
from civicsight.watchlist import DAY_S, WatchlistEntry, WatchlistError, WatchlistStore, enrol
from civicsight.watchlist import SCHEMA as WATCHLIST_SCHEMA_V1
from tests.faces_support import face_encoder, face_photo

NOW = 1_700_000_000.0
Photo = Callable[[str], np.ndarray]


@pytest.fixture(scope="module")
def encoder(model_mirror: Path) -> Iterator[FaceEncoder]:
    """YuNet-s and dlib's ResNet, as the faces service runs them."""
    with face_encoder(model_mirror) as enc:
        yield enc


@pytest.fixture(scope="module")
def photo() -> Photo:
    return face_photo


def entry(entry_id: str = "e-1", days: float = 30, **over: Any) -> WatchlistEntry:
    fields: dict[str, Any] = {
        "watchlist_id": "missing",
        "entry_id": entry_id,
        "label": "Test Person",
        "case_id": "2026/118",
        "reason": "missing person report",
        "added_by": "alice",
        "added_at": NOW,
        "expires_at": NOW + days * DAY_S,
        **over,
    }
    return WatchlistEntry(**fields)


def vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.1, (n, 128)).astype(np.float32)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WatchlistStore]:
    with AuditLog(tmp_path / "data") as audit:
        s = WatchlistStore(tmp_path / "data" / "watchlist.db", audit)
        s.open()
        yield s
        s.close()


def rows(store: WatchlistStore, table: str) -> int:
    return int(store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.mark.parametrize(
    ("over", "problem"),
    [
        ({"expires_at": NOW}, "after added_at"),
        ({"expires_at": NOW + 366 * DAY_S}, "at most 365 days"),
        ({"entry_id": "Barack Obama"}, "pattern"),
        ({"watchlist_id": "x" * 65}, "pattern"),
        ({"label": ""}, "at least 1"),
        ({"reason": "   "}, "printable"),
        ({"case_id": ""}, "case_id"),
        ({"case_id": "case 1"}, "pattern"),
        ({"added_by": "eve\x1b[2J"}, "printable"),
        ({"race": "x"}, "Extra inputs"),
    ],
    ids=["no-expiry", "over-a-year", "name-as-id", "long-id", "no-label", "blank-reason",
         "no-case", "bad-case", "control-chars", "sensitive-field"],
)  # fmt: skip
def test_entries_need_reason_author_and_bounded_expiry(over: dict[str, Any], problem: str) -> None:
    """Guards against indefinite entries, entries without a reason, and extra attributes."""
    with pytest.raises(ValidationError, match=problem):
        entry(**over)


def test_file_is_readable_by_its_owner_only(store: WatchlistStore) -> None:
    """Guards against enrolled faces landing in a world-readable file."""
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_added_entries_are_in_the_index_with_their_embeddings(store: WatchlistStore) -> None:
    store.add(entry("e-1"), vectors(2, 1), role="local")
    store.add(entry("e-2"), vectors(1, 2), role="local")
    idx = store.index(NOW)
    assert idx.keys == (("missing", "e-1"), ("missing", "e-1"), ("missing", "e-2"))
    np.testing.assert_array_equal(idx.vectors[:2], vectors(2, 1))
    assert [(e.entry_id, n) for e, n in store.entries()] == [("e-1", 2), ("e-2", 1)]


@pytest.mark.parametrize(
    ("days", "at", "in_index", "purged"),
    [(30, NOW, True, 0), (30, NOW + 30 * DAY_S, False, 1), (1, NOW + 2 * DAY_S, False, 1)],
    ids=["live", "expires-at-that-moment", "long-expired"],
)
def test_expired_entries_do_not_match_and_are_purged(
    store: WatchlistStore, days: float, at: float, in_index: bool, purged: int
) -> None:
    """Guards against matching, or keeping, a face past the entry's expiry."""
    store.add(entry("e-1", days), vectors(2, 1), role="local")
    assert (len(store.index(at)) > 0) is in_index
    assert store.purge_expired(at) == purged
    assert rows(store, "entries") == 1 - purged
    assert rows(store, "embeddings") == 2 * (1 - purged)


def test_remove_deletes_entry_and_embeddings(store: WatchlistStore) -> None:
    """Guards against orphaned embeddings that outlive their entry."""
    store.add(entry("e-1"), vectors(2, 1), role="local")
    store.add(entry("e-2"), vectors(1, 2), role="local")
    assert store.remove("missing", "e-1", actor="bob", role="local") is True
    assert store.remove("missing", "e-1", actor="bob", role="local") is False
    assert rows(store, "embeddings") == 1
    assert store.index(NOW).keys == (("missing", "e-2"),)


def test_every_change_is_audited_without_the_label(store: WatchlistStore) -> None:
    """Guards accountability: add (by the enrolling user), remove (by who removed it) and
    expiry (by the system) each leave an audit entry with the case id; the person's name
    never reaches the audit log."""
    store.add(entry("e-1", 1), vectors(1, 1), role="investigator")
    store.add(entry("e-2", 30), vectors(1, 2), role="investigator")
    store.remove("missing", "e-2", actor="bob", role="admin")
    assert store.purge("watchlist", NOW + 2 * DAY_S) == 1
    log = [(e.action, e.actor, e.role, e.details["entry_id"], e.details["case_id"])
           for e in store.audit.entries()]  # fmt: skip
    assert log == [
        ("watchlist.add", "alice", "investigator", "e-1", "2026/118"),
        ("watchlist.add", "alice", "investigator", "e-2", "2026/118"),
        ("watchlist.remove", "bob", "admin", "e-2", "2026/118"),
        ("watchlist.expired", "system", "system", "e-1", "2026/118"),
    ]
    assert b"Test Person" not in store.audit.path.read_bytes()
    assert store.audit.verify().ok


@pytest.mark.parametrize(
    ("vecs", "problem"),
    [
        (vectors(1, 1), "already on the watchlist"),
        (np.zeros((0, 128), np.float32), "expected"),
        (np.zeros((2, 64), np.float32), "expected"),
        (np.full((1, 128), np.nan, np.float32), "finite"),
    ],
    ids=["duplicate", "no-embedding", "wrong-size", "nan"],
)
def test_bad_additions_are_refused(store: WatchlistStore, vecs: np.ndarray, problem: str) -> None:
    store.add(entry("e-1"), vectors(1, 9), role="local")
    with pytest.raises(WatchlistError, match=problem):
        store.add(entry("e-1" if problem.startswith("already") else "e-2"), vecs, role="local")
    assert rows(store, "embeddings") == 1


@pytest.mark.parametrize(
    ("photos", "problem"),
    [
        (["train_obama_obama.jpg", "train_obama_obama2.jpg"], None),
        (["train_biden_biden2.jpg"], None),  # two weak false hits in the painted background
        (["test_obama_and_biden.jpg"], "faces; enrol from photos"),
        (["train_obama_obama.jpg", "train_biden_biden.jpg"], "different people"),
    ],
    ids=["two-photos", "false-hits-ignored", "group-photo", "two-people"],
)
def test_enrol_from_photos(
    store: WatchlistStore,
    encoder: FaceEncoder,
    photo: Photo,
    photos: list[str],
    problem: str | None,
) -> None:
    """Guards against enrolling from a group photo or mixing two people in one entry."""
    images = [(name, photo(name)) for name in photos]
    if problem is None:
        assert enrol(store, entry(), images, encoder, 0.5, 32, role="local") == len(photos)
        assert len(store.index(NOW)) == len(photos)
    else:
        with pytest.raises(EnrolmentError, match=problem):
            enrol(store, entry(), images, encoder, 0.5, 32, role="local")
        assert rows(store, "entries") == 0


def test_enrol_refuses_a_photo_without_a_face(store: WatchlistStore, encoder: FaceEncoder) -> None:
    grey = np.full((300, 200, 3), 128, np.uint8)
    with pytest.raises(EnrolmentError, match=r"blank\.png: no face"):
        enrol(store, entry(), [("blank.png", grey)], encoder, 0.5, 32, role="local")


@pytest.fixture(scope="module")
def enrolled(
    tmp_path_factory: pytest.TempPathFactory, encoder: FaceEncoder, photo: Photo
) -> WatchlistIndex:
    """Obama from two photos and Rose Leslie from one, enrolled once for the module."""
    folder = tmp_path_factory.mktemp("watchlist")
    audit = AuditLog(folder)
    audit.open()
    store = WatchlistStore(folder / "watchlist.db", audit)
    store.open()
    obama = [(n, photo(n)) for n in ("train_obama_obama.jpg", "train_obama_obama2.jpg")]
    enrol(store, entry("obama"), obama, encoder, 0.5, 32, role="local")
    enrol(
        store,
        entry("rose"),
        [("r.jpg", photo("train_rose_leslie_img2.jpg"))],
        encoder,
        0.5,
        32,
        role="local",
    )
    idx = store.index(NOW)
    store.close()
    audit.close()
    return idx


@pytest.mark.parametrize(
    ("probe", "want"),
    [
        ("test_obama1.jpg", "obama"),
        ("obama3.jpg", "obama"),
        ("train_rose_leslie_img1.jpg", "rose"),
        ("test_alex_lacamoire1.jpg", None),
        ("train_biden_biden.jpg", None),
        ("test_johnsnow_test1.jpg", None),
    ],
)
def test_enrolled_people_match_and_strangers_do_not(
    enrolled: WatchlistIndex, encoder: FaceEncoder, photo: Photo, probe: str, want: str | None
) -> None:
    """Real faces end to end: enrolled people are found in new photos, nobody else is."""
    (embedding,) = encoder.largest_faces([photo(probe)], 32)
    assert embedding is not None
    found = match(embedding, enrolled, 0.5, NOW)
    assert (found.entry_id if found else None) == want


def test_enrolment_keeps_the_enrolled_face_as_reference_photo(
    store: WatchlistStore, encoder: FaceEncoder, photo: Photo
) -> None:
    """Guards the reviewer's reference: the entry keeps a JPEG of the face it was enrolled
    from (the first photo's), small, and showing that same person; the audit entry says a
    photo was kept, never what it shows."""
    names = ("train_obama_obama.jpg", "train_obama_obama2.jpg")
    enrol(store, entry(), [(n, photo(n)) for n in names], encoder, 0.5, 32, role="local")
    reference = store.reference("missing", "e-1")
    assert reference is not None and reference.startswith(b"\xff\xd8\xff")
    image = cv2.imdecode(np.frombuffer(reference, np.uint8), cv2.IMREAD_COLOR)
    assert max(image.shape[:2]) <= 320
    (again,), (first,) = (
        encoder.largest_faces([image], 32),
        encoder.largest_faces([photo(names[0])], 32),
    )
    assert again is not None and first is not None
    assert float(np.linalg.norm(again - first)) < 0.3
    assert store.with_reference() == {("missing", "e-1")}
    assert store.audit.entries()[-1].details["reference_photo"] is True


@pytest.mark.parametrize("how", ["remove", "expiry"])
def test_the_reference_photo_goes_with_its_entry(store: WatchlistStore, how: str) -> None:
    """Guards retention of enrolled faces: removal and expiry delete the photo too, with
    nothing left in the file (secure_delete, the WAL folded back)."""
    marker = b"\xff\xd8\xff" + b"REFERENCE-MARKER" * 4
    store.add(entry("e-1", days=1), vectors(1, 1), role="local", reference=marker)
    assert store.reference("missing", "e-1") == marker
    if how == "remove":
        assert store.remove("missing", "e-1", actor="bob", role="local")
    else:
        assert store.purge_expired(NOW + 2 * DAY_S) == 1
    assert store.reference("missing", "e-1") is None
    assert b"REFERENCE-MARKER" not in store.path.read_bytes()
    wal = store.path.with_name(store.path.name + "-wal")
    assert not wal.exists() or b"REFERENCE-MARKER" not in wal.read_bytes()


@pytest.mark.parametrize("reference", [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff" + b"x" * 600_000])
def test_only_a_small_jpeg_is_kept_as_reference(store: WatchlistStore, reference: bytes) -> None:
    with pytest.raises(WatchlistError, match="JPEG of at most"):
        store.add(entry(), vectors(1, 1), role="local", reference=reference)
    assert store.entries() == []


def test_a_watchlist_from_before_reference_photos_is_upgraded(tmp_path: Path) -> None:
    """Guards the migration: a watchlist.db of schema version 1 keeps its entries (with
    no photo) and takes new ones with photos."""
    path = tmp_path / "watchlist.db"
    db = sqlite3.connect(path)
    db.executescript(WATCHLIST_SCHEMA_V1)
    e = entry("old")
    db.execute(
        "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (e.watchlist_id, e.entry_id, e.label, e.case_id, e.reason, e.added_by, e.added_at,
         e.expires_at),
    )  # fmt: skip
    db.execute("INSERT INTO embeddings VALUES ('missing', 'old', 0, ?)", (vectors(1, 3).tobytes(),))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with AuditLog(tmp_path) as audit:
        store = WatchlistStore(path, audit)
        store.open()
        assert [x.entry_id for x, _ in store.entries()] == ["old"]
        assert store.reference("missing", "old") is None
        store.add(entry("new"), vectors(1, 4), role="local", reference=b"\xff\xd8\xffnew")
        assert store.with_reference() == {("missing", "new")}
        store.close()
