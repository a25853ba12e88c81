"""The watchlist over HTTP: enrolment from uploaded photos with the real face models (the
faces service's YuNet + dlib), the refusals a photo or a form can get, removal with a
reason, expiry, roles, and what the audit log keeps (never the person's name). Real
SQLite stores, the sample face photos."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.cameras import CameraConfig
from civicsight.models.runtimes.face_encoder import FaceEncoder, ModelChoice
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.face_models import LazyFaceEncoder
from civicsight.services.api.state import ApiState, Enrolment
from civicsight.services.faces.logic import match
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.watchlist import DAY_S, WatchlistEntry, WatchlistStore
from tests.faces_support import face_encoder, face_photo, face_photo_bytes
from tests.support import bomb_png

LABEL = "Barack Example"
FORM = {
    "label": LABEL,
    "case_id": "2026/118",
    "reason": "missing person report 4411",
    "days": "30",
    "watchlist_id": "missing",
}


@pytest.fixture(scope="module")
def encoder(model_mirror: Path) -> Iterator[FaceEncoder]:
    with face_encoder(model_mirror) as enc:
        yield enc


@dataclass
class Hub:
    client: TestClient
    tokens: TokenStore
    watchlist: WatchlistStore
    trail: AuditLog

    def bearer(self, role: Role = Role.INVESTIGATOR, label: str = "ivy") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.issue(role, label)}"}

    def add(self, photo: bytes, name: str = "photo.jpg", **form: str) -> Any:
        return self.client.post(
            "/api/watchlist",
            files={"photo": (name, photo, "image/jpeg")},
            data={**FORM, **form},
            headers=self.bearer(),
        )


def build(
    tmp_path: Path,
    store: SqliteTrackStore,
    tokens: TokenStore,
    trail: AuditLog,
    cameras: list[CameraConfig],
    enrolment: Enrolment | None,
) -> Iterator[Hub]:
    watchlist = WatchlistStore(tmp_path / "watchlist.db", trail)
    watchlist.open()
    app = create_app(
        ApiState(
            store=store,
            tokens=tokens,
            audit=trail,
            cameras=CameraRegistry(cameras),
            watchlist=watchlist,
            enrolment=enrolment,
        )
    )
    with TestClient(app) as client:
        yield Hub(client, tokens, watchlist, trail)
    watchlist.close()


@pytest.fixture
def hub(
    tmp_path: Path,
    store: SqliteTrackStore,
    tokens: TokenStore,
    trail: AuditLog,
    cameras: list[CameraConfig],
    encoder: FaceEncoder,
) -> Iterator[Hub]:
    yield from build(tmp_path, store, tokens, trail, cameras, Enrolment(encoder, 0.5, 32))


def test_enrolment_from_a_photo_matches_the_person_later(hub: Hub, encoder: FaceEncoder) -> None:
    """Guards enrolment in the API: the photo goes through the faces service's own models,
    so the entry matches the same person in another photo (and not someone else); the
    entry keeps its case, reason, author, expiry and the enrolled face as photo; the id is
    opaque, never the name."""
    resp = hub.add(face_photo_bytes("train_obama_obama.jpg"))
    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert out["entry_id"].startswith("e-") and "barack" not in out["entry_id"].lower()
    assert (out["label"], out["case_id"], out["added_by"]) == (LABEL, "2026/118", "ivy")
    assert out["days_left"] == pytest.approx(30, abs=0.01) and not out["expiring_soon"]
    assert out["photos"] == 1 and out["has_photo"]
    index = hub.watchlist.index(time.time())
    (same,), (other,) = (encoder.largest_faces([face_photo(n)], 32)
                         for n in ("test_obama1.jpg", "test_alex_lacamoire1.jpg"))  # fmt: skip
    found = match(same, index, 0.5, time.time())
    assert found is not None and found.entry_id == out["entry_id"]
    assert match(other, index, 0.5, time.time()) is None
    reference = hub.watchlist.reference("missing", out["entry_id"])
    assert reference is not None
    image = cv2.imdecode(np.frombuffer(reference, np.uint8), cv2.IMREAD_COLOR)
    assert len(encoder.faces(image)) == 1

    listed = hub.client.get("/api/watchlist", headers=hub.bearer()).json()
    assert [e["entry_id"] for e in listed["entries"]] == [out["entry_id"]]
    assert listed["entries"][0]["label"] == LABEL and listed["max_days"] == 365


def test_enrolment_accepts_png(hub: Hub) -> None:
    """Guards the upload types the page offers: a PNG photo enrols like a JPEG."""
    png = cv2.imencode(".png", face_photo("train_rose_leslie_img1.jpg"))[1].tobytes()
    assert hub.add(png, "rose.png").status_code == 201


@pytest.mark.parametrize(
    ("photo", "form", "status", "detail"),
    [
        ("grey", {}, 422, "no face"),
        ("test_obama_and_biden.jpg", {}, 422, "faces; enrol from photos that show only"),
        ("two_people.jpg", {}, 422, "faces"),
        ("gif", {}, 415, "not a readable JPEG or PNG"),
        ("bomb", {}, 413, "30000x30000"),
        ("empty", {}, 400, "empty"),
        ("train_obama_obama.jpg", {"days": "366"}, 400, "days"),
        ("train_obama_obama.jpg", {"days": "0"}, 400, "days"),
        ("train_obama_obama.jpg", {"days": "1.5"}, 400, "days"),
        ("train_obama_obama.jpg", {"case_id": "case 1"}, 400, "case_id"),
        ("train_obama_obama.jpg", {"case_id": "C-1\n"}, 400, "case_id"),
        ("train_obama_obama.jpg", {"reason": "why"}, 400, "reason"),
        ("train_obama_obama.jpg", {"label": "Eve\x1b[2J"}, 400, "label"),
        ("train_obama_obama.jpg", {"label": "   "}, 400, "label"),
        ("train_obama_obama.jpg", {"watchlist_id": "Missing People"}, 400, "watchlist_id"),
    ],
    ids=["no-face", "group-photo", "two-people", "gif", "decompression-bomb", "empty",
         "over-a-year", "zero-days", "fraction", "bad-case", "case-newline", "short-reason",
         "control-chars", "blank-label", "bad-watchlist-id"],
)  # fmt: skip
def test_bad_photos_and_forms_are_refused_with_a_reason(
    hub: Hub, photo: str, form: dict[str, str], status: int, detail: str
) -> None:
    """Guards enrolment against photos that do not show exactly one clear face (who would
    be enrolled?), files that are not photos, and entries without a bounded expiry, a case
    or a reason; nothing is stored or audited as added."""
    made = {
        "grey": lambda: cv2.imencode(".jpg", np.full((400, 300, 3), 128, np.uint8))[1].tobytes(),
        "gif": lambda: b"GIF89a" + b"\x00" * 200,
        "bomb": lambda: bomb_png(30_000, 30_000),
        "empty": lambda: b"",
    }
    data = made[photo]() if photo in made else face_photo_bytes(photo)
    resp = hub.add(data, **form)
    assert resp.status_code == status, resp.text
    assert detail in resp.json()["detail"]
    assert hub.watchlist.entries() == []
    assert hub.trail.entries(action="watchlist.add") == []
    assert LABEL not in resp.text  # a refusal never echoes the name


def test_a_body_over_the_upload_limit_is_refused_before_it_is_read(hub: Hub) -> None:
    resp = hub.add(b"\xff\xd8\xff" + b"x" * (3 * 1024 * 1024))
    assert resp.status_code == 413


def test_removal_needs_a_reason_and_deletes_embeddings_and_photo(hub: Hub) -> None:
    """Guards removal: a reason is required (and audited), and the entry, its embeddings
    and its photo are gone from the file afterwards."""
    entry = hub.add(face_photo_bytes("train_obama_obama.jpg")).json()["entry_id"]
    reference = hub.watchlist.reference("missing", entry)
    assert reference is not None
    url = f"/api/watchlist/missing/{entry}"
    for query, status in (("", 400), ("?reason=no", 400), ("?reason=%1b%5b2Jxxxxx", 400)):
        assert hub.client.delete(url + query, headers=hub.bearer()).status_code == status
    assert hub.watchlist.entry("missing", entry) is not None
    resp = hub.client.delete(url + "?reason=found+safe+and+well", headers=hub.bearer(label="ian"))
    assert resp.status_code == 204
    assert hub.watchlist.entries() == [] and hub.watchlist.reference("missing", entry) is None
    count = hub.watchlist.db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    assert count == 0
    assert reference[100:164] not in hub.watchlist.path.read_bytes()
    again = hub.client.delete(url + "?reason=found+safe+and+well", headers=hub.bearer())
    assert again.status_code == 404
    removals = [(e.actor, e.role, e.details["reason"])
                for e in hub.trail.entries(action="watchlist.remove")]  # fmt: skip
    assert removals == [("ian", "investigator", "found safe and well")]


def test_every_change_and_listing_is_audited_without_the_name(hub: Hub) -> None:
    """Guards accountability: who enrolled (with case, reason and expiry), who listed the
    watchlist and who removed an entry are in the audit log; the person's name is not."""
    entry = hub.add(face_photo_bytes("train_obama_obama.jpg")).json()["entry_id"]
    hub.client.get("/api/watchlist", headers=hub.bearer())
    hub.client.delete(f"/api/watchlist/missing/{entry}?reason=case+closed", headers=hub.bearer())
    log = [(e.action, e.actor, e.role) for e in hub.trail.entries()]
    assert log == [
        ("watchlist.add", "ivy", "investigator"),
        ("watchlist.view", "ivy", "investigator"),
        ("watchlist.remove", "ivy", "investigator"),
    ]
    added = hub.trail.entries(action="watchlist.add")[0].details
    assert added["case_id"] == "2026/118" and added["reference_photo"] is True
    assert LABEL.encode() not in hub.trail.path.read_bytes()
    assert hub.trail.verify().ok


def test_expired_entries_are_purged_not_listed(hub: Hub) -> None:
    """Guards retention at expiry: an entry whose time is up is deleted (and the deletion
    audited by the system) when the watchlist is listed; the listing counts days left."""
    now = time.time()
    for entry_id, added, days in (("e-old", now - 3 * DAY_S, 2), ("e-soon", now, 3)):
        entry = WatchlistEntry(
            watchlist_id="missing",
            entry_id=entry_id,
            label=LABEL,
            case_id="2026/118",
            reason="test",
            added_by="ivy",
            added_at=added,
            expires_at=added + days * DAY_S,
        )
        hub.watchlist.add(entry, np.full((1, 128), 0.1, np.float32), role="investigator")
    listed = hub.client.get("/api/watchlist", headers=hub.bearer()).json()["entries"]
    assert [(e["entry_id"], e["expiring_soon"], e["has_photo"]) for e in listed] == [
        ("e-soon", True, False)
    ]
    assert listed[0]["days_left"] == pytest.approx(3, abs=0.01)
    assert [e.entry_id for e, _ in hub.watchlist.entries()] == ["e-soon"]
    assert [e.actor for e in hub.trail.entries(action="watchlist.expired")] == ["system"]


@pytest.mark.parametrize("role", list(Role))
def test_only_investigators_manage_the_watchlist(hub: Hub, role: Role) -> None:
    """Guards the role table: operators review alerts but never see or change the
    watchlist; no other role reaches it either (403 before the form is looked at)."""
    headers = hub.bearer(role)
    calls = [
        hub.client.get("/api/watchlist", headers=headers),
        hub.client.post(
            "/api/watchlist",
            files={"photo": ("p.jpg", face_photo_bytes("train_obama_obama.jpg"), "image/jpeg")},
            data=FORM,
            headers=headers,
        ),
        hub.client.delete("/api/watchlist/missing/e-1?reason=a+valid+reason", headers=headers),
    ]
    want = [200, 201, 404] if role == Role.INVESTIGATOR else [403, 403, 403]
    assert [c.status_code for c in calls] == want


def test_without_face_models_enrolment_says_so_and_the_rest_works(
    tmp_path: Path,
    store: SqliteTrackStore,
    tokens: TokenStore,
    trail: AuditLog,
    cameras: list[CameraConfig],
) -> None:
    """Guards a hub whose model files are missing: enrolment answers 503 in words (no
    path of the server), listing and removal still work."""
    empty = tmp_path / "no-models"
    empty.mkdir()
    choice = ModelChoice("face-det-yunet-s", "face-embed-dlib-resnet", empty, tmp_path / "cache")
    lazy = LazyFaceEncoder(choice)
    for hub in build(tmp_path, store, tokens, trail, cameras, Enrolment(lazy, 0.5, 32)):
        resp = hub.add(face_photo_bytes("train_obama_obama.jpg"))
        assert resp.status_code == 503, resp.text
        assert "face models cannot be loaded" in resp.json()["detail"]
        assert str(tmp_path) not in resp.text
        assert hub.client.get("/api/watchlist", headers=hub.bearer()).status_code == 200
