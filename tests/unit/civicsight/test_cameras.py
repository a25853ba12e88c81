"""Camera files: validation, the source allowlist, the media root and credential hiding."""

from __future__ import annotations

from pathlib import Path

import pytest

from civicsight.cameras import (
    CameraConfig,
    CameraConfigError,
    CameraWatch,
    cameras_with,
    load_camera,
    load_cameras,
    redact_url,
    resolve_media_path,
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
    cams = load_cameras(repo / "config/demo")
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
