"""Per-tracklet thumbnails and the case-file export: real SQLite store filled with real
crops of the sample photos, real audit log, every role, FastAPI's TestClient."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.cameras import CameraConfig
from civicsight.events import PlateRead, TrackletRef, TrackUpdate, global_track_id
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore

from .conftest import T0, bus_image, encode_jpeg

WHY = {"case": "C-2026/17", "purpose": "stolen van report 4411", "category": "theft"}
# two camera visits of one van, and a walker seen once
VAN_A = TrackletRef(camera_id="cam-a", track_id=3, first_seen=T0 + 10, last_seen=T0 + 20)
VAN_B = TrackletRef(camera_id="cam-b", track_id=8, first_seen=T0 + 90, last_seen=T0 + 130)
WALKER = TrackletRef(camera_id="cam-a", track_id=7, first_seen=T0 + 12, last_seen=T0 + 18)
VAN = "g-van"


def own(ref: TrackletRef, jpeg: bytes, cls: str = "bus") -> TrackUpdate:
    """The tracklet's own track with its best crop, as the stream app publishes it."""
    return TrackUpdate(
        track_id=global_track_id(ref.camera_id, ref.track_id),
        version=2,
        cls=cls,  # type: ignore[arg-type]
        tracklets=(ref,),
        first_seen=ref.first_seen,
        last_seen=ref.last_seen,
        best_crop_jpeg=jpeg,
        emitted_at=ref.last_seen + 1,
    )


@pytest.fixture
def crops() -> dict[str, bytes]:
    image = bus_image()
    return {
        "cam-a/3": encode_jpeg(image[230:750, 20:800]),
        "cam-b/8": encode_jpeg(image[260:720, 60:760]),
        "cam-a/7": encode_jpeg(image[400:905, 48:245]),
    }


@pytest.fixture
def client(
    tmp_path: Path,
    tokens: TokenStore,
    trail: AuditLog,
    cameras: list[CameraConfig],
    crops: dict[str, bytes],
) -> Iterator[TestClient]:
    store = SqliteTrackStore(tmp_path / "investigation.db")
    store.open()
    van = TrackUpdate(
        track_id=VAN,
        version=4,
        cls="bus",
        tracklets=(VAN_A, VAN_B),
        first_seen=VAN_A.first_seen,
        last_seen=VAN_B.last_seen,
        emitted_at=VAN_B.last_seen + 5,
    )
    store.write(
        [
            own(VAN_A, crops["cam-a/3"]),
            own(VAN_B, crops["cam-b/8"]),
            own(WALKER, crops["cam-a/7"], "person"),
            van,
            PlateRead(camera_id="cam-a", track_id=3, captured_at=T0 + 15, text="AB123CD", conf=0.9),
            PlateRead(
                camera_id="cam-b", track_id=8, captured_at=T0 + 100, text="A8123CD", conf=0.6
            ),
        ],
        T0 + 200,
    )
    app = create_app(
        ApiState(store=store, tokens=tokens, audit=trail, cameras=CameraRegistry(cameras))
    )
    with TestClient(app) as c:
        yield c
    store.close()


def bearer(tokens: TokenStore, role: Role = Role.INVESTIGATOR) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(role, f'{role.value} desk')}"}


def actions(trail: AuditLog) -> list[str]:
    return [e.action for e in trail.entries()]


# ---- thumbnails ------------------------------------------------------------------------


def test_the_detail_lists_one_thumbnail_per_camera_visit(
    client: TestClient, tokens: TokenStore, trail: AuditLog, crops: dict[str, bytes]
) -> None:
    """Guards the track page showing one picture for a track seen on several cameras,
    and thumbnails that answer another tracklet's crop."""
    auth = bearer(tokens)
    body = client.get(f"/api/tracks/{VAN}", params=WHY, headers=auth).json()
    assert [(t["tracklet"], t["camera_id"]) for t in body["thumbnails"]] == [
        ("cam-a/3", "cam-a"),
        ("cam-b/8", "cam-b"),
    ]
    assert [s["has_crop"] for s in body["trajectory"]] == [True, True]
    assert body["crop"] == f"/api/tracks/{VAN}/crop.jpg" and body["has_crop"]
    assert body["merged_into"] is None
    for thumb in body["thumbnails"]:
        resp = client.get(thumb["url"], params=WHY, headers=auth)
        assert resp.status_code == 200 and resp.headers["content-type"] == "image/jpeg"
        assert resp.content == crops[thumb["tracklet"]]
    # a cross-camera track has no crop of its own: its longest visit stands in
    best = client.get(body["crop"], params=WHY, headers=auth)
    assert best.status_code == 200 and best.content == crops["cam-b/8"]
    views = [e.details for e in trail.entries() if e.action == "thumbnail.view"]
    assert [(v.get("tracklet"), v["case_id"]) for v in views] == [
        ("cam-a/3", WHY["case"]),
        ("cam-b/8", WHY["case"]),
        (None, WHY["case"]),
    ]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/api/tracks/{VAN}/tracklets/cam-a/3/crop.jpg", 200),
        (f"/api/tracks/{VAN}/tracklets/cam-a/7/crop.jpg", 404),  # the walker: another track
        (f"/api/tracks/{VAN}/tracklets/cam-z/3/crop.jpg", 404),
        ("/api/tracks/g-none/tracklets/cam-a/3/crop.jpg", 404),
        (f"/api/tracks/{VAN}/tracklets/Cam-A/3/crop.jpg", 400),
        (f"/api/tracks/{VAN}/tracklets/cam-a/-1/crop.jpg", 400),
        (f"/api/tracks/{VAN}/tracklets/cam-a/x/crop.jpg", 400),
    ],
)
def test_a_thumbnail_is_served_only_under_its_own_track(
    client: TestClient, tokens: TokenStore, trail: AuditLog, path: str, status: int
) -> None:
    """Guards reading any tracklet's picture under an unrelated track id (the audit entry
    would name the wrong track), and answers without an audit entry."""
    resp = client.get(path, params=WHY, headers=bearer(tokens))
    assert resp.status_code == status, resp.text
    assert actions(trail).count("thumbnail.view") == (1 if status == 200 else 0)


# ---- export ----------------------------------------------------------------------------


def read_zip(content: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(files.pop("track.json")), files


def test_export_is_a_case_file_that_names_its_audit_entry(
    client: TestClient, tokens: TokenStore, trail: AuditLog, crops: dict[str, bytes]
) -> None:
    """Guards an export without its record, a case file that cannot be matched to the
    log entry (seq, crop digests), and one missing the crops or the plate reads."""
    resp = client.get(f"/api/tracks/{VAN}/export", params=WHY, headers=bearer(tokens))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/zip"
    assert resp.headers["content-disposition"] == (
        f'attachment; filename="case-C-2026_17-track-{VAN}.zip"'
    )
    head, files = read_zip(resp.content)
    (entry,) = [e for e in trail.entries() if e.action == "export"]
    assert head["audit_entry_seq"] == entry.seq == int(resp.headers["x-audit-entry"])
    assert head["case"] == {"case_id": WHY["case"], "purpose": WHY["purpose"], "category": "theft"}
    assert head["exported_by"] == {"user": "investigator desk", "role": "investigator"}
    assert head["exported_at"] == entry.at and head["exported_at_utc"].endswith("Z")
    assert head["track"]["track"]["track_id"] == VAN
    assert [s["tracklet"] for s in head["track"]["trajectory"]] == ["cam-a/3", "cam-b/8"]
    assert [(p["text"], p["conf"]) for p in head["track"]["plate_reads"]] == [
        ("AB123CD", 0.9),
        ("A8123CD", 0.6),
    ]
    assert [c["id"] for c in head["cameras"]] == ["cam-a", "cam-b"]
    assert "source" not in json.dumps(head["cameras"])  # no camera URL (credentials)
    assert files == {
        "crops/track.jpg": crops["cam-b/8"],
        "crops/cam-a/3.jpg": crops["cam-a/3"],
        "crops/cam-b/8.jpg": crops["cam-b/8"],
    }
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    assert {f["name"]: f["sha256"] for f in head["files"]} == digests
    assert entry.details["files"] == digests
    assert entry.details["case_id"] == WHY["case"] and entry.details["track"] == VAN
    assert trail.verify().ok


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.VIEWER, 403),
        (Role.OPERATOR, 403),
        (Role.TRAFFIC_ANALYST, 403),
        (Role.AUDITOR, 403),
        (Role.ADMIN, 403),
        (Role.INVESTIGATOR, 200),
    ],
)
@pytest.mark.parametrize("with_case", [True, False])
def test_only_investigators_export_and_the_role_is_checked_first(
    client: TestClient,
    tokens: TokenStore,
    trail: AuditLog,
    role: Role,
    status: int,
    with_case: bool,
) -> None:
    """Guards a case file (crops of people, plates) leaving with another role, and a 400
    that tells a role that may not export what to send."""
    params = WHY if with_case else {}
    resp = client.get(f"/api/tracks/{VAN}/export", params=params, headers=bearer(tokens, role))
    expected = status if with_case or status == 403 else 400
    assert resp.status_code == expected, resp.text
    assert actions(trail).count("export") == (1 if expected == 200 else 0)


@pytest.mark.parametrize(
    ("params", "path", "status"),
    [
        ({}, VAN, 400),
        ({"case": WHY["case"]}, VAN, 400),
        ({"purpose": WHY["purpose"]}, VAN, 400),
        ({**WHY, "case": "C-1\n"}, VAN, 400),
        ({**WHY, "category": "curiosity"}, VAN, 400),
        (WHY, "g-none", 404),
    ],
)
def test_an_export_without_case_and_purpose_or_track_leaves_nothing(
    client: TestClient,
    tokens: TokenStore,
    trail: AuditLog,
    params: dict[str, str],
    path: str,
    status: int,
) -> None:
    """Guards an export without a stated case, and an audit entry for an export that
    never happened."""
    resp = client.get(f"/api/tracks/{path}/export", params=params, headers=bearer(tokens))
    assert resp.status_code == status
    assert resp.json()["detail"]
    assert "export" not in actions(trail)


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.INVESTIGATOR])
def test_other_roles_see_no_thumbnail(client: TestClient, tokens: TokenStore, role: Role) -> None:
    """Guards crops of people reaching a role without the search permission."""
    path = f"/api/tracks/{VAN}/tracklets/cam-a/3/crop.jpg"
    assert client.get(path, params=WHY, headers=bearer(tokens, role)).status_code == 403
