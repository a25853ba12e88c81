"""The watchlist store and enrolment, with the real face models on the sample photos."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from civicsight.audit import AuditLog
from services.faces.logic import EnrolmentError, WatchlistIndex, match
from services.faces.pipeline import FaceEncoder
from services.faces.watchlist import DAY_S, WatchlistEntry, WatchlistError, WatchlistStore, enrol

NOW = 1_700_000_000.0
Photo = Callable[[str], np.ndarray]


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
