"""Camera files: validation, the source allowlist, the media root and credential hiding."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from civicsight.cameras import (
    Analytics,
    CameraConfig,
    CameraConfigError,
    CameraWatch,
    Rules,
    RulesWatch,
    cameras_with,
    check_network_source,
    load_camera,
    load_cameras,
    redact_url,
    resolve_media_path,
    save_analytics,
    save_rules,
)

GOOD = "id: cam-1\nname: Gate\nsource: rtsp://admin:hunter2@10.0.0.5:554/stream1\nfps: 5\n"


def write(tmp_path: Path, text: str, name: str = "cam.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (GOOD + "colour_of_skin: true\n", "Extra inputs are not permitted"),
        (GOOD.replace("rtsp://", "http://"), "scheme 'http'"),
        (GOOD.replace("rtsp://admin:hunter2@10.0.0.5:554/stream1", "/etc/passwd"), "scheme"),
        (GOOD + "fps: 0\n", "fps"),
        (GOOD.replace("id: cam-1", "id: Cam 1"), "id"),
        ("name: x\n", "id: Field required"),
        ("id: [unclosed\n", "cam.yaml"),
    ],
    ids=["unknown-field", "http", "no-scheme", "fps-zero", "bad-id", "missing-id", "bad-yaml"],
)
def test_bad_camera_files_are_refused_with_the_reason(
    tmp_path: Path, text: str, reason: str
) -> None:
    with pytest.raises(CameraConfigError, match=reason):
        load_camera(write(tmp_path, text))


def test_error_messages_never_show_the_password(tmp_path: Path) -> None:
    """Guards against a validation error echoing the RTSP credentials into logs."""
    with pytest.raises(CameraConfigError) as err:
        load_camera(write(tmp_path, GOOD + "fps: 99\n"))
    assert "hunter2" not in str(err.value)


def test_credentials_are_hidden_everywhere(tmp_path: Path) -> None:
    cam = load_camera(write(tmp_path, GOOD))
    assert "hunter2" not in repr(cam) and "hunter2" not in str(cam.model_dump())
    assert "hunter2" not in cam.model_dump_json()
    assert cam.redacted_source == "rtsp://***@10.0.0.5:554/stream1"
    assert cam.source.get_secret_value().endswith("@10.0.0.5:554/stream1")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://u:p@host/x?token=abc", "rtsp://***@host/x"),
        ("rtsps://host:8554/live", "rtsps://host:8554/live"),
        ("media:car.mp4", "media:car.mp4"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_duplicate_camera_ids_are_refused(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(CameraConfigError, match="used twice"):
        load_cameras(tmp_path)


@pytest.mark.parametrize(
    ("source", "ok"),
    [("media:clip.mp4", True), ("media:../secret.mp4", False), ("media:missing.mp4", False)],
)
def test_media_sources_stay_inside_the_media_root(tmp_path: Path, source: str, ok: bool) -> None:
    """Guards against a camera file reading any file on the host via ../"""
    root = tmp_path / "media"
    root.mkdir()
    (root / "clip.mp4").write_bytes(b"x")
    (tmp_path / "secret.mp4").write_bytes(b"x")
    if ok:
        assert resolve_media_path(source, root) == (root / "clip.mp4").resolve()
    else:
        with pytest.raises(CameraConfigError):
            resolve_media_path(source, root)


def test_demo_cameras_are_valid() -> None:
    repo = Path(__file__).resolve().parents[3]
    cams = load_cameras(repo / "civicsight/data/demo_cameras")
    assert len(cams) >= 3 and all(isinstance(c, CameraConfig) for c in cams)
    assert all(not c.analytics.faces for c in cams)  # faces stay off unless enabled


@pytest.mark.parametrize(
    ("analytics", "expected"),
    [("reid", {"walkway"}), ("faces", set()), ("detect", {"walkway", "lobby", "plain"})],
)
def test_cameras_with_an_analytics_turned_on(
    tmp_path: Path, analytics: str, expected: set[str]
) -> None:
    """Guards against a service working on cameras where its analytics is off (the default
    for plates, re-ID and faces)."""
    for cam, reid in (("walkway", "true"), ("lobby", "false")):
        (tmp_path / f"{cam}.yaml").write_text(
            f"id: {cam}\nname: {cam}\nsource: media:x.mp4\nanalytics: {{reid: {reid}}}\n"
        )
    (tmp_path / "plain.yaml").write_text("id: plain\nname: plain\nsource: media:x.mp4\n")
    assert cameras_with(tmp_path, analytics) == frozenset(expected)
    assert cameras_with(tmp_path / "missing", analytics) == frozenset()


def test_cameras_with_unknown_analytics_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown analytics"):
        cameras_with(tmp_path, "ethnicity")


def test_camera_watch_follows_the_files_and_keeps_the_last_good_set(tmp_path: Path) -> None:
    """Guards against a restart being needed to switch plates on, and against one broken
    camera file switching a service off everywhere (or on everywhere)."""
    gate = tmp_path / "gate.yaml"
    gate.write_text("id: gate\nname: Gate\nsource: rtsp://cam/1\nanalytics: {plates: true}\n")
    watch = CameraWatch(tmp_path, "plates", every_s=0.0)
    assert watch.ids == frozenset({"gate"})
    (tmp_path / "yard.yaml").write_text(
        "id: yard\nname: Yard\nsource: rtsp://cam/2\nanalytics: {plates: true}\n"
    )
    watch.refresh()
    assert watch.ids == frozenset({"gate", "yard"})
    gate.write_text("id: gate\nname: Gate\nsource: rtsp://cam/1\nrace: x\n")
    watch.refresh()
    assert watch.ids == frozenset({"gate", "yard"})


FACES = "id: cam-f\nname: Gate\nsource: rtsp://10.0.0.5/s\nanalytics:\n  faces: true\n"
PURPOSE = "  faces_purpose: find missing persons reported to the police\n"
BASIS = "  faces_legal_basis: court order 2026/118\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (FACES, "faces: true needs faces_purpose and faces_legal_basis"),
        (FACES + PURPOSE, "needs faces_legal_basis"),
        (FACES + BASIS, "needs faces_purpose"),
        (FACES + PURPOSE + "  faces_legal_basis: '     '\n", "printable"),
        (FACES + "  faces_purpose: police\n" + BASIS, "at least 10"),
        (FACES + PURPOSE + BASIS, None),
        (FACES.replace("true", "false"), None),
    ],
    ids=["neither", "no-basis", "no-purpose", "blank-basis", "short-purpose", "both",
         "faces-off"],
)  # fmt: skip
def test_faces_need_a_purpose_and_a_legal_basis(
    tmp_path: Path, text: str, problem: str | None
) -> None:
    """Guards against switching face matching on without a recorded purpose and legal
    basis; the error names the camera file."""
    path = write(tmp_path, text, "gate-cam.yaml")
    if problem is None:
        assert load_camera(path).id == "cam-f"
        return
    with pytest.raises(CameraConfigError, match=problem) as err:
        load_camera(path)
    assert "gate-cam.yaml" in str(err.value)


SOURCES = {
    # source: (refused with CIVICSIGHT_CAMERA_NETWORKS=private, why)
    "file:///etc/passwd": (True, "outside the media root"),
    "http://169.254.169.254/latest/meta-data/": (True, "scheme 'http'"),
    "rtsp://169.254.169.254/latest": (True, "metadata"),
    "rtsp://u:pw@169.254.10.1/s": (True, "link-local"),
    "rtsp://[fe80::1]/s": (True, "link-local"),
    "rtsp://[fd00:ec2::254]/s": (True, "metadata"),
    "rtsp://metadata.google.internal/x": (True, "metadata service"),
    "rtsp://0.0.0.0/s": (True, "unspecified"),
    "rtsp://127.0.0.1:8554/s": (True, "loopback"),
    "rtsp://[::1]/s": (True, "loopback"),
    "rtsp://[::ffff:127.0.0.1]/s": (True, "loopback"),
    "rtsp://localhost/s": (True, "loopback"),
    "rtsp://224.0.0.1/s": (True, "multicast"),
    "rtsp://10.0.0.5/s": (False, ""),
    "rtsps://192.168.1.20:322/live": (False, ""),
    "rtsp://8.8.8.8/s": (False, ""),
    "media:clip.mp4": (False, ""),
}


@pytest.mark.parametrize("source", list(SOURCES))
def test_camera_sources_that_reach_the_host_or_the_cloud_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    """Guards against a camera file reading local files or reaching the metadata service,
    link-local or loopback services (SSRF)."""
    monkeypatch.setenv("CIVICSIGHT_CAMERA_NETWORKS", "private")
    root = tmp_path / "media"
    root.mkdir()
    (root / "clip.mp4").write_bytes(b"x")
    refused, why = SOURCES[source]
    path = write(tmp_path, f"id: c\nname: c\nsource: '{source}'\n")

    def use() -> None:
        cam = load_camera(path)
        url = cam.source.get_secret_value()
        if url.startswith("rtsp"):
            return
        resolve_media_path(url, root)

    if refused:
        with pytest.raises(CameraConfigError, match=why) as err:
            use()
        assert "pw" not in str(err.value)
    else:
        use()


@pytest.mark.parametrize(
    ("networks", "url", "ok"),
    [
        ("private,loopback", "rtsp://127.0.0.1/s", True),
        ("private,loopback", "rtsp://169.254.169.254/s", False),
        ("", "rtsp://10.0.0.5/s", False),
        ("", "rtsp://8.8.8.8/s", True),
    ],
)
def test_the_site_setting_decides_private_and_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, networks: str, url: str, ok: bool
) -> None:
    """Guards the lab switch: loopback only when allowed; metadata never."""
    monkeypatch.setenv("CIVICSIGHT_CAMERA_NETWORKS", networks)
    path = write(tmp_path, f"id: c\nname: c\nsource: '{url}'\n")
    if ok:
        load_camera(path)
    else:
        with pytest.raises(CameraConfigError):
            load_camera(path)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("rtsp://localhost.localdomain.invalid/s", "does not resolve"),
        ("rtsp://localhost/s", "loopback"),
    ],
)
def test_host_names_are_resolved_before_connecting(url: str, problem: str) -> None:
    """Guards against a host name that points at the hub itself (checked at connect)."""
    with pytest.raises(CameraConfigError, match=problem):
        check_network_source(url, frozenset({"private"}))


def test_an_unknown_network_kind_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIVICSIGHT_CAMERA_NETWORKS", "private,everything")
    with pytest.raises(CameraConfigError, match="everything"):
        load_camera(write(tmp_path, GOOD))


RULED = """# Gate camera: keep this comment
id: gate
name: Gate
source: rtsp://admin:hunter2@10.0.0.5:554/stream1
fps: 4
position: {x_m: 12.5, y_m: -3}
analytics: {detect: true, reid: true}
rules:
  lines:
    - id: kerb
      name: Kerb
      points: [[0.1, 0.6], [0.9, 0.55]]
      to_right: inbound
      to_left: outbound
  zones:
    - id: bay
      name: Loading bay
      polygon: [[0.2, 0.2], [0.4, 0.2], [0.4, 0.4], [0.2, 0.4]]
"""


def test_rules_read_from_a_camera_file(tmp_path: Path) -> None:
    cam = load_camera(write(tmp_path, RULED))
    (line,) = cam.rules.lines
    assert line.points == ((0.1, 0.6), (0.9, 0.55))
    assert (line.direction(+1), line.direction(-1)) == ("inbound", "outbound")
    assert cam.rules.zones[0].polygon[2] == (0.4, 0.4)
    assert load_camera(write(tmp_path, GOOD, "plain.yaml")).rules.empty


LINE = {"id": "l1", "name": "Line", "points": [[0.1, 0.5], [0.9, 0.5]]}
ZONE = {"id": "z1", "name": "Zone", "polygon": [[0.1, 0.1], [0.3, 0.1], [0.3, 0.3]]}


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ({"lines": [LINE], "zones": [ZONE]}, None),
        ({"lines": [{**LINE, "points": [[0.1, 0.5], [1.2, 0.5]]}]},
         r"point 1 \[1.2, 0.5\] is outside the frame"),
        ({"lines": [{**LINE, "points": [[-0.1, 0.5], [0.5, 0.5]]}]}, "point 0 .* outside"),
        ({"lines": [{**LINE, "points": [[0.1, 0.5]]}]}, "at least 2 items"),
        ({"lines": [{**LINE, "points": [[0.1, 0.5], [0.1, 0.5]]}]}, "same point"),
        ({"lines": [{**LINE, "points": [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]}]},
         "segments 0 and 2 cross"),
        ({"lines": [{**LINE, "points": [[0.1, 0.5], [0.9, 0.5], [0.5, 0.5]]}]}, "cross"),
        ({"lines": [{**LINE, "to_right": "in", "to_left": "in"}]}, "different names"),
        ({"lines": [{**LINE, "to_right": "In Bound"}]}, "pattern"),
        ({"lines": [{**LINE, "id": "Line 1"}]}, "pattern"),
        ({"zones": [{**ZONE, "polygon": [[0.1, 0.1], [0.3, 0.1]]}]}, "at least 3 items"),
        ({"zones": [{**ZONE, "polygon": [[0.1, 0.1], [0.3, 0.1], [0.3, 0.3], [0.1, 0.1]]}]},
         "closes itself"),
        ({"zones": [{**ZONE, "polygon": [[0.1, 0.1], [0.3, 0.3], [0.3, 0.1], [0.1, 0.3]]}]},
         "edges 0 and 2 cross"),
        ({"zones": [{**ZONE, "polygon": [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]}]}, "no area|cross"),
        ({"zones": [{**ZONE, "polygon": [[0.1, 0.1], [0.3, 0.1], [1.3, 0.3]]}]}, "outside"),
        ({"lines": [LINE], "zones": [{**ZONE, "id": "l1"}]}, "'l1' used twice"),
        ({"lines": [LINE, LINE]}, "'l1' used twice"),
        ({"lines": [{**LINE, "colour": "red"}]}, "Extra inputs"),
        ({"counts": []}, "Extra inputs"),
    ],
    ids=["good", "x>1", "x<0", "one-point-line", "repeated-point", "self-crossing-line",
         "folded-line", "same-direction-names", "direction-not-a-slug", "id-not-a-slug",
         "two-point-zone", "closing-point-repeated", "bow-tie-zone", "flat-zone",
         "zone-out-of-frame", "id-shared-by-line-and-zone", "duplicate-line", "unknown-field",
         "unknown-section"],
)  # fmt: skip
def test_rules_are_validated(rules: dict[str, object], problem: str | None) -> None:
    """Guards rules the stream app cannot evaluate, or evaluates wrongly: points outside
    the frame, lines or zones too short to have a side or an inside, a line or zone that
    crosses itself (no clear side), and ids a hit could not name uniquely."""
    if problem is None:
        assert Rules.model_validate(rules).lines[0].id == "l1"
    else:
        with pytest.raises(ValidationError, match=problem):
            Rules.model_validate(rules)


def test_saving_rules_rewrites_only_the_rules(tmp_path: Path) -> None:
    """Guards the API's rule editor losing the rest of a camera file (its source, its
    credentials, its analytics) or the comment at its top, or leaving half a file."""
    (tmp_path / "other.yaml").write_text("id: other\nname: Other\nsource: media:x.mp4\n")
    path = write(tmp_path, RULED, "z-gate.yaml")
    before = yaml.safe_load(path.read_text())
    path.chmod(0o640)
    new = Rules.model_validate({"lines": [LINE]})
    cam = save_rules(tmp_path, "gate", new)
    assert cam.rules == new and load_camera(path).rules == new
    after = yaml.safe_load(path.read_text())
    assert {k: v for k, v in after.items() if k != "rules"} == {
        k: v for k, v in before.items() if k != "rules"
    }
    assert path.read_text().startswith("# Gate camera: keep this comment\n")
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.yaml", "z-gate.yaml"]
    save_rules(tmp_path, "gate", Rules())
    assert "rules" not in yaml.safe_load(path.read_text())
    with pytest.raises(CameraConfigError, match="no camera file with id 'nope'"):
        save_rules(tmp_path, "nope", new)
    path.write_text(RULED.replace("fps: 4", "fps: 99"))
    with pytest.raises(CameraConfigError, match="fps") as err:
        save_rules(tmp_path, "gate", new)  # a file already broken is not written
    assert "hunter2" not in str(err.value) and "fps: 99" in path.read_text()


def test_rules_watch_reads_changed_files_and_keeps_the_last_good_rules(tmp_path: Path) -> None:
    """Guards rules saved through the API needing a stream app restart, and one broken
    camera file dropping every camera's rules."""
    path = write(tmp_path, RULED, "gate.yaml")
    watch = RulesWatch(tmp_path, every_s=0.0)
    assert [z.id for z in watch("gate").zones] == ["bay"] and watch("other").empty
    save_rules(tmp_path, "gate", Rules.model_validate({"lines": [LINE]}))
    assert watch.refresh()
    assert [line.id for line in watch("gate").lines] == ["l1"] and not watch("gate").zones
    assert not watch.refresh()  # nothing changed: not read again
    path.write_text(RULED + "race: x\n")
    assert not watch.refresh()
    assert [line.id for line in watch("gate").lines] == ["l1"]
    assert RulesWatch(tmp_path / "missing")("gate").empty


def test_saving_analytics_rewrites_only_the_analytics(tmp_path: Path) -> None:
    """Guards the admin page's analytics switch losing the camera's rules, source or top
    comment, writing face matching without its purpose and legal basis, or writing empty
    purpose fields into the file."""
    path = write(tmp_path, RULED, "gate.yaml")
    before = yaml.safe_load(path.read_text())
    faces = Analytics(
        plates=True,
        faces=True,
        faces_purpose="find missing persons near the station",
        faces_legal_basis="court order 2026/77",
    )
    cam = save_analytics(tmp_path, "gate", faces)
    assert cam.analytics == faces and load_camera(path).analytics == faces
    after = yaml.safe_load(path.read_text())
    assert {k: v for k, v in after.items() if k != "analytics"} == {
        k: v for k, v in before.items() if k != "analytics"
    }
    assert path.read_text().startswith("# Gate camera: keep this comment\n")
    save_analytics(tmp_path, "gate", Analytics(detect=True))
    assert yaml.safe_load(path.read_text())["analytics"] == {
        "detect": True, "plates": False, "reid": False, "faces": False,
    }  # fmt: skip
    with pytest.raises(ValidationError, match="faces: true needs faces_legal_basis"):
        Analytics(faces=True, faces_purpose="find missing persons near the station")
    with pytest.raises(CameraConfigError, match="no camera file with id 'nope'"):
        save_analytics(tmp_path, "nope", faces)


SQUARE = [[0.1, 0.5], [0.9, 0.5], [0.9, 0.9], [0.1, 0.9]]
ROAD = [[0.0, 30.0], [12.0, 30.0], [12.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize(
    ("image", "ground", "problem"),
    [
        (SQUARE, ROAD, None),
        (
            [[0.3, 0.4], [0.7, 0.4], [0.95, 0.95], [0.05, 0.95]],
            [[-3.5, 40], [3.5, 40], [3.5, 5], [-3.5, 5]],
            None,
        ),
        (
            [[0.1, 0.5], [0.5, 0.5], [0.9, 0.5], [0.1, 0.9]],
            ROAD,
            "image: points 0, 1 and 2 lie on one line",
        ),
        (
            SQUARE,
            [[0, 30], [12, 30], [24, 30.1], [0, 0]],
            "ground: points 0, 1 and 2 lie on one line",
        ),
        (SQUARE, [[0, 30], [0, 30], [12, 0], [0, 0]], "ground: points 0, 1 and 2 lie on one line"),
        (SQUARE, [[0, 30], [12, 0], [12, 30], [0, 0]], "not in the order of the image points"),
        ([[0.1, 0.5], [1.2, 0.5], [0.9, 0.9], [0.1, 0.9]], ROAD, "outside the frame"),
        (SQUARE[:3], ROAD[:3], "calibration.image.3\n  Field required"),
    ],
)
def test_calibrations_are_validated(
    image: list[list[float]], ground: list[list[float]], problem: str | None
) -> None:
    """Guards a calibration whose homography does not exist (three marks in line) or
    folds the road (marks listed in another order), accepted and giving nonsense speeds."""
    doc = yaml.safe_load(GOOD) | {"calibration": {"image": image, "ground": ground}}
    if problem is None:
        cam = CameraConfig.model_validate(doc)
        assert cam.calibration is not None and len(cam.calibration.homography) == 9
        return
    with pytest.raises(ValidationError, match=problem):
        CameraConfig.model_validate(doc)


def test_the_demo_street_camera_is_calibrated() -> None:
    """Guards the demo losing its speeds: the street camera's marks give the lane's width
    and a car's length as the picture shows them."""
    from civicsight.geometry import project

    repo = Path(__file__).resolve().parents[3]
    cam = load_camera(repo / "civicsight/data/demo_cameras/street.yaml")
    assert cam.calibration is not None and cam.rules.lines
    h = cam.calibration.homography
    a, b = project(h, (0.0, 0.5)), project(h, (1.0, 0.5))
    assert 10 < b[0] - a[0] < 20  # the picture is 10-20 m wide


def test_rules_watch_reads_calibrations(tmp_path: Path) -> None:
    """Guards a calibration added to a camera file not reaching the stream app."""
    write(tmp_path, RULED, "gate.yaml")
    watch = RulesWatch(tmp_path, every_s=0.0)
    assert watch.calibration("gate") is None
    calibrated = RULED + yaml.safe_dump({"calibration": {"image": SQUARE, "ground": ROAD}})
    write(tmp_path, calibrated, "gate.yaml")
    assert watch.refresh()
    calibration = watch.calibration("gate")
    assert calibration is not None and calibration.ground[0] == (0.0, 30.0)
