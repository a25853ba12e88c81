"""Counting lines and zones through the API: who may read and save them, what is refused,
what a save does to the camera file, the audit log and the camera list; and the live rule
hits a page polls. Real SQLite stores and camera files, FastAPI's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from civicsight.audit import AuditLog
from civicsight.auth import Role, TokenStore
from civicsight.cameras import CameraConfig, load_camera, load_cameras
from civicsight.events import RuleHit
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.live import LiveView
from civicsight.services.api.state import ApiState
from civicsight.store.sqlite import SqliteTrackStore

from .conftest import T0

GATE = """# North gate: the camera over the car park entrance
id: gate
name: North gate
source: rtsp://admin:s3cr3t@10.0.0.5:554/stream1
fps: 4
position: {x_m: 10, y_m: 20}
analytics: {detect: true, plates: true}
"""
YARD = "id: yard\nname: Yard\nsource: media:yard.mp4\nsimulated: true\n"
LINE = {"id": "kerb", "name": "Kerb", "points": [[0.1, 0.6], [0.9, 0.6]], "to_right": "south"}
ZONE = {"id": "bay", "name": "Bay", "polygon": [[0.2, 0.2], [0.5, 0.2], [0.5, 0.5]]}
RULES = {"lines": [LINE], "zones": [ZONE]}
BOW_TIE = [[0.1, 0.1], [0.3, 0.3], [0.3, 0.1], [0.1, 0.3]]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    cams = tmp_path / "cameras"
    cams.mkdir()
    (cams / "10-gate.yaml").write_text(GATE)
    (cams / "20-yard.yaml").write_text(YARD)
    return cams


@pytest.fixture
def trail(tmp_path: Path) -> Iterator[AuditLog]:
    log = AuditLog(tmp_path)
    log.open()
    yield log
    log.close()


@pytest.fixture
def camera_list(folder: Path) -> list[CameraConfig]:
    return load_cameras(folder)


@pytest.fixture
def registry(camera_list: list[CameraConfig], folder: Path) -> CameraRegistry:
    return CameraRegistry(camera_list, folder)


@pytest.fixture
def live() -> LiveView:
    return LiveView(hits=3)


@pytest.fixture
def client(
    store: SqliteTrackStore,
    tokens: TokenStore,
    registry: CameraRegistry,
    live: LiveView,
    trail: AuditLog,
) -> Iterator[TestClient]:
    app = create_app(ApiState(store=store, tokens=tokens, audit=trail, cameras=registry, live=live))
    with TestClient(app) as c:
        yield c


def as_role(tokens: TokenStore, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(role, f'{role.value} desk')}"}


def test_admin_saves_rules_into_the_camera_file(
    client: TestClient,
    tokens: TokenStore,
    folder: Path,
    trail: AuditLog,
    registry: CameraRegistry,
) -> None:
    """Guards a rule editor that loses the rest of the camera file (its source and its
    credentials, its analytics, its top comment), that is not audited, or whose change the
    API itself does not show until a restart."""
    before = yaml.safe_load((folder / "10-gate.yaml").read_text())
    resp = client.put("/api/cameras/gate/rules", json=RULES, headers=as_role(tokens, Role.ADMIN))
    assert resp.status_code == 200, resp.text
    assert resp.json()["lines"][0]["to_left"] == "out"  # the default filled in

    text = (folder / "10-gate.yaml").read_text()
    after = yaml.safe_load(text)
    assert {k: v for k, v in after.items() if k != "rules"} == before
    assert text.startswith("# North gate: the camera over the car park entrance\n")
    saved = load_camera(folder / "10-gate.yaml").rules
    assert [line.id for line in saved.lines] == ["kerb"] and saved.zones[0].polygon[2] == (0.5, 0.5)
    assert (folder / "20-yard.yaml").read_text() == YARD
    assert sorted(p.name for p in folder.iterdir()) == ["10-gate.yaml", "20-yard.yaml"]

    entries = trail.entries(action="camera.rules")
    assert [(e.actor, e.role, e.details) for e in entries] == [
        ("admin desk", "admin", {"camera": "gate", "lines": 1, "zones": 1})
    ]
    shown = client.get("/api/cameras/gate/rules", headers=as_role(tokens, Role.VIEWER))
    assert shown.status_code == 200 and shown.json() == resp.json()
    gate = registry.get("gate")
    assert gate is not None and gate.rules == saved  # the registry every route reads follows

    cleared = client.put("/api/cameras/gate/rules", json={}, headers=as_role(tokens, Role.ADMIN))
    assert cleared.json() == {"lines": [], "zones": []}
    assert "rules" not in yaml.safe_load((folder / "10-gate.yaml").read_text())


@pytest.mark.parametrize(
    "role", [Role.VIEWER, Role.INVESTIGATOR, Role.TRAFFIC_ANALYST, Role.AUDITOR]
)
def test_only_an_admin_saves_rules(
    client: TestClient, tokens: TokenStore, folder: Path, trail: AuditLog, role: Role
) -> None:
    resp = client.put("/api/cameras/gate/rules", json=RULES, headers=as_role(tokens, role))
    assert resp.status_code == 403 and "manage" in resp.json()["detail"]
    assert (folder / "10-gate.yaml").read_text() == GATE
    assert trail.entries(action="camera.rules") == []


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.VIEWER, 200),
        (Role.INVESTIGATOR, 200),
        (Role.ADMIN, 200),
        (Role.TRAFFIC_ANALYST, 403),
        (Role.AUDITOR, 403),
    ],
)
def test_roles_that_see_live_tiles_read_rules(
    client: TestClient, tokens: TokenStore, role: Role, status: int
) -> None:
    resp = client.get("/api/cameras/yard/rules", headers=as_role(tokens, role))
    assert resp.status_code == status
    if status == 200:
        assert resp.json() == {"lines": [], "zones": []}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"lines": [{**LINE, "points": [[0.1, 0.6], [1.1, 0.6]]}]}, "point 1 [1.1, 0.6] is out"),
        ({"zones": [{**ZONE, "polygon": [[0.2, 0.2], [0.5, -0.2], [0.5, 0.5]]}]}, "bay: point 1"),
        ({"lines": [{**LINE, "points": [[0.1, 0.6]]}]}, "at least 2"),
        ({"zones": [{**ZONE, "polygon": [[0.2, 0.2], [0.5, 0.2]]}]}, "at least 3"),
        ({"lines": [LINE], "zones": [{**ZONE, "id": "kerb"}]}, "'kerb' used twice"),
        ({"lines": [LINE, LINE]}, "'kerb' used twice"),
        ({"zones": [{**ZONE, "polygon": BOW_TIE}]}, "edges 0 and 2 cross"),
        ({"lines": [{**LINE, "to_left": "south"}]}, "different names"),
        ({"lines": [{**LINE, "colour": "red"}]}, "Extra inputs"),
        ({"lines": "kerb"}, "lines"),
    ],
    ids=["line-out-of-frame", "zone-out-of-frame", "one-point-line", "two-point-zone",
         "id-of-line-and-zone", "duplicate-line", "bow-tie-zone", "same-direction-names",
         "unknown-field", "not-a-list"],
)  # fmt: skip
def test_bad_geometry_is_400_and_saves_nothing(
    client: TestClient,
    tokens: TokenStore,
    folder: Path,
    trail: AuditLog,
    body: dict[str, object],
    needle: str,
) -> None:
    """Guards rules the stream app would evaluate wrongly (or crash on) reaching the
    camera file, and an error that does not say what to change."""
    resp = client.put("/api/cameras/gate/rules", json=body, headers=as_role(tokens, Role.ADMIN))
    assert resp.status_code == 400, resp.text
    assert needle in resp.json()["detail"]
    assert (folder / "10-gate.yaml").read_text() == GATE
    assert trail.entries(action="camera.rules") == []


@pytest.mark.parametrize("method", ["get", "put"])
def test_unknown_camera_is_404(client: TestClient, tokens: TokenStore, method: str) -> None:
    resp = client.request(
        method, "/api/cameras/nope/rules", json=RULES, headers=as_role(tokens, Role.ADMIN)
    )
    assert resp.status_code == 404 and "nope" in resp.json()["detail"]


def test_without_a_cameras_folder_rules_are_read_only(
    store: SqliteTrackStore,
    tokens: TokenStore,
    camera_list: list[CameraConfig],
    folder: Path,
    trail: AuditLog,
) -> None:
    """Guards a save that "succeeds" without writing anything the stream app reads."""
    app = create_app(
        ApiState(store=store, tokens=tokens, audit=trail, cameras=CameraRegistry(camera_list))
    )
    with TestClient(app) as c:
        admin = as_role(tokens, Role.ADMIN)
        assert c.get("/api/cameras/gate/rules", headers=admin).status_code == 200
        resp = c.put("/api/cameras/gate/rules", json=RULES, headers=admin)
        assert resp.status_code == 503 and "cameras folder" in resp.json()["detail"]
    assert (folder / "10-gate.yaml").read_text() == GATE


def test_a_camera_file_gone_since_start_is_409(
    client: TestClient, tokens: TokenStore, folder: Path
) -> None:
    (folder / "20-yard.yaml").unlink()
    resp = client.put("/api/cameras/yard/rules", json=RULES, headers=as_role(tokens, Role.ADMIN))
    assert resp.status_code == 409 and "no camera file with id 'yard'" in resp.json()["detail"]


def hit(n: int, camera: str = "gate") -> RuleHit:
    return RuleHit(
        camera_id=camera,
        track_id=n,
        captured_at=T0 + n,
        rule_id="kerb",
        rule_kind="line",
        action="cross",
        direction="south",
        cls="car",
        seq=1,
    )


def test_rule_hits_are_polled_by_cursor(
    client: TestClient, tokens: TokenStore, live: LiveView
) -> None:
    """Guards a live counter page that sees a hit twice, never sees one, or does not
    know it fell behind (only the newest hits are kept: 3 in this test)."""
    viewer = as_role(tokens, Role.VIEWER)
    empty = client.get("/api/events/rule-hits", headers=viewer).json()
    assert empty == {"hits": [], "cursor": 0, "missed": 0}
    live.rule_hits.add(hit(1))
    live.rule_hits.add(hit(2, "yard"))
    first = client.get("/api/events/rule-hits?after=0", headers=viewer).json()
    assert [h["track_id"] for h in first["hits"]] == [1, 2] and first["cursor"] == 2
    again = client.get(f"/api/events/rule-hits?after={first['cursor']}", headers=viewer).json()
    assert again == {"hits": [], "cursor": 2, "missed": 0}
    for n in range(3, 7):
        live.rule_hits.add(hit(n))
    behind = client.get("/api/events/rule-hits?after=2", headers=viewer).json()
    assert [h["track_id"] for h in behind["hits"]] == [4, 5, 6]
    assert (behind["cursor"], behind["missed"]) == (6, 1)
    yard = client.get("/api/events/rule-hits?after=0&camera=yard", headers=viewer).json()
    assert yard["hits"] == [] and yard["cursor"] == 6
    analyst = client.get("/api/events/rule-hits", headers=as_role(tokens, Role.TRAFFIC_ANALYST))
    assert analyst.status_code == 403
