"""The one camera registry every route reads: saves through it rewrite the camera's file
and show everywhere at once, two saves of one camera never lose each other, and it reads
the files afresh only when asked. Real camera files, real SQLite stores, FastAPI's
TestClient."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.cameras import Analytics, CameraConfigError, Rules, load_camera, load_cameras
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry, NoCamerasFolderError
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore

GATE = """# North gate
id: gate
name: North gate
source: rtsp://admin:s3cr3t@10.0.0.5:554/stream1
analytics: {detect: true, plates: true}
"""
YARD = "id: yard\nname: Yard\nsource: media:yard.mp4\nsimulated: true\n"
LINE = {"id": "kerb", "name": "Kerb", "points": [[0.1, 0.6], [0.9, 0.6]]}
FACES = {
    "detect": True,
    "faces": True,
    "faces_purpose": "find missing persons at the station",
    "faces_legal_basis": "court order 2026/77",
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    cams = tmp_path / "cameras"
    cams.mkdir()
    (cams / "gate.yaml").write_text(GATE)
    (cams / "yard.yaml").write_text(YARD)
    return cams


@pytest.fixture
def registry(folder: Path) -> CameraRegistry:
    return CameraRegistry(load_cameras(folder), folder)


@pytest.fixture
def client(
    store: SqliteTrackStore, tokens: TokenStore, trail: AuditLog, registry: CameraRegistry
) -> Iterator[TestClient]:
    with TestClient(create_app(ApiState(store, tokens, trail, cameras=registry))) as c:
        yield c


def bearer(tokens: TokenStore, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(role, f'{role.value} desk')}"}


def test_a_save_through_one_router_shows_in_every_other(
    client: TestClient, tokens: TokenStore, folder: Path
) -> None:
    """Guards the routers' own copies of the camera list (the rules routes kept a
    ``saved`` dict, administration another, the tiles and the case file a snapshot):
    rules saved, then analytics, and every reader shows both, as the file does."""
    admin, operator = bearer(tokens, Role.ADMIN), bearer(tokens, Role.OPERATOR)
    saved = client.put("/api/cameras/gate/rules", json={"lines": [LINE]}, headers=admin)
    assert saved.status_code == 200, saved.text
    turned = client.put("/api/cameras/gate/analytics", json=FACES, headers=admin)
    assert turned.status_code == 200, turned.text

    on_disk = load_camera(folder / "gate.yaml")
    assert on_disk.analytics.faces and [line.id for line in on_disk.rules.lines] == ["kerb"]
    readers = {
        "rules": client.get("/api/cameras/gate/rules", headers=admin).json()["lines"][0]["id"],
        "cameras": next(
            c["analytics"]["faces"]
            for c in client.get("/api/cameras", headers=admin).json()
            if c["id"] == "gate"
        ),
        "faces cameras": [
            c["camera_id"]
            for c in client.get("/api/faces/cameras", headers=operator).json()["cameras"]
        ],
        "transparency": next(
            c["analytics"] for c in client.get("/api/transparency").json()["cameras"]
            if c["id"] == "gate"
        ),
    }  # fmt: skip
    assert readers == {
        "rules": "kerb",
        "cameras": True,
        "faces cameras": ["gate"],
        "transparency": ["detect", "faces"],  # plates off: FACES leaves them out
    }


def test_saves_of_one_camera_at_once_lose_nothing(registry: CameraRegistry, folder: Path) -> None:
    """Guards two routers saving the same camera file under two locks (rules and
    analytics each had their own): one read-modify-write of the file undid the other."""
    lines = [Rules.model_validate({"lines": [{**LINE, "id": f"l{n}"}]}) for n in range(20)]
    toggles = [Analytics(detect=True, plates=n % 2 == 0) for n in range(20)]
    errors: list[BaseException] = []

    def run(work: list[object]) -> None:
        try:
            for item in work:
                if isinstance(item, Rules):
                    registry.save_rules("gate", item)
                else:
                    assert isinstance(item, Analytics)
                    registry.save_analytics("gate", item)
        except BaseException as err:
            errors.append(err)

    threads = [
        threading.Thread(target=run, args=(list(lines),)),
        threading.Thread(target=run, args=(list(toggles),)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    on_disk = load_camera(folder / "gate.yaml")
    held = registry.get("gate")
    assert held == on_disk
    assert [line.id for line in on_disk.rules.lines] == ["l19"]
    assert on_disk.analytics.plates is False  # the last toggle (n = 19)
    assert yaml.safe_load((folder / "gate.yaml").read_text())["source"].endswith("stream1")


def test_without_a_folder_the_registry_is_read_only(folder: Path) -> None:
    """Guards a save that "succeeds" in memory while no service would ever read it."""
    cams = CameraRegistry(load_cameras(folder))
    with pytest.raises(NoCamerasFolderError):
        cams.save_rules("gate", Rules())
    assert cams.on_disk() is None
    assert (folder / "gate.yaml").read_text() == GATE


def test_unknown_cameras_and_twice_used_ids_are_refused(
    registry: CameraRegistry, folder: Path
) -> None:
    """Guards a save that creates a camera the registry does not serve, and a registry
    that silently keeps one of two cameras with one id."""
    with pytest.raises(KeyError):
        registry.save_rules("nope", Rules())
    with pytest.raises(ValueError, match="used twice"):
        CameraRegistry([*load_cameras(folder), *load_cameras(folder)])


def test_on_disk_reads_the_files_afresh(registry: CameraRegistry, folder: Path) -> None:
    """Guards the faces cameras shown from the API's memory while the faces service reads
    the files: an edit by hand shows, a broken file raises, and neither changes what the
    registry serves."""
    (folder / "yard.yaml").write_text(YARD.replace("Yard", "Back yard"))
    fresh = registry.on_disk()
    assert fresh is not None and [c.name for c in fresh] == ["North gate", "Back yard"]
    yard = registry.get("yard")
    assert yard is not None and yard.name == "Yard"
    (folder / "yard.yaml").write_text("id: [broken\n")
    with pytest.raises(CameraConfigError):
        registry.on_disk()
    assert [c.id for c in registry.all()] == ["gate", "yard"]
