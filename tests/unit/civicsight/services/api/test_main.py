"""ApiSettings, and `python -m services.api.main` serving and stopping on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from civicsight.auth import Role, TokenStore
from civicsight.services.api.main import ApiSettings
from civicsight.stack import free_port

from .conftest import REPO


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("CIVICSIGHT_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({}, "api_host", "127.0.0.1"),
        ({}, "api_port", 8080),
        ({}, "store_path", Path("data/tracks.db")),
        ({}, "tokens_path", Path("data/auth.db")),
        ({"CIVICSIGHT_API_PORT": "9123"}, "api_port", 9123),
        ({"CIVICSIGHT_DATA_DIR": "/srv/cs"}, "store_path", Path("/srv/cs/tracks.db")),
        ({"CIVICSIGHT_DATA_DIR": "/srv/cs"}, "tokens_path", Path("/srv/cs/auth.db")),
        (
            {"CIVICSIGHT_DATA_DIR": "/srv/cs", "CIVICSIGHT_STORE_PATH": "/fast/t.db"},
            "store_path",
            Path("/fast/t.db"),
        ),
        ({"CIVICSIGHT_CAMERAS_DIR": "/etc/cams"}, "cameras_dir", Path("/etc/cams")),
        ({"CIVICSIGHT_LIVE_FEED": "false"}, "live_feed", False),
    ],
)
def test_settings_from_environment(
    clean_env: pytest.MonkeyPatch, env: dict[str, str], field: str, value: object
) -> None:
    """Guards defaults that expose the API beyond localhost, a store outside the data dir,
    or variables that are silently not read."""
    for name, val in env.items():
        clean_env.setenv(name, val)
    assert getattr(ApiSettings(), field) == value


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_settings_refuse_a_bad_port(clean_env: pytest.MonkeyPatch, port: str) -> None:
    """Guards starting on a random or impossible port."""
    clean_env.setenv("CIVICSIGHT_API_PORT", port)
    with pytest.raises(ValidationError):
        ApiSettings()


def test_settings_are_frozen_and_documented(clean_env: pytest.MonkeyPatch) -> None:
    """Guards settings changed at run time, and fields without a description (the docs and
    `civicsight config` show them)."""
    settings = ApiSettings()
    with pytest.raises(ValidationError):
        settings.api_port = 1  # type: ignore[misc]
    for name, info in ApiSettings.model_fields.items():
        assert info.description, name


def wait_healthy(url: str, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"API exited early: {proc.communicate()[1]}")
        try:
            if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("API did not become healthy")


@pytest.mark.parametrize("live_feed", [False, True], ids=["no-live-feed", "kafka-down"])
def test_serves_and_stops_cleanly_on_sigterm(tmp_path: Path, live_feed: bool) -> None:
    """Guards a service that dies on SIGTERM before closing its stores (uvicorn re-raises
    the signal after its shutdown), hangs on a live feed whose broker is down, or logs the
    token."""
    data = tmp_path / "data"
    cams = tmp_path / "cameras"
    cams.mkdir()
    (cams / "gate.yaml").write_text(
        "id: gate\nname: North gate\nsource: rtsp://op:hunter2@10.1.1.1/live\n"
    )
    tokens = TokenStore(data / "auth.db")
    tokens.open()
    token = tokens.issue(Role.VIEWER, "test")
    tokens.close()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CIVICSIGHT_")},
        "PYTHONPATH": str(REPO),
        "CIVICSIGHT_DATA_DIR": str(data),
        "CIVICSIGHT_CAMERAS_DIR": str(cams),
        "CIVICSIGHT_API_PORT": str(port),
        "CIVICSIGHT_LIVE_FEED": str(live_feed).lower(),
        "CIVICSIGHT_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # nothing listens there
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "civicsight.services.api.main"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        resp = httpx.get(url + "/api/cameras", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200 and resp.json()[0]["name"] == "North gate"
        assert "hunter2" not in resp.text
        assert httpx.get(url + "/api/tracks").status_code == 401
        time.sleep(0.5 if live_feed else 0)  # let the feed try the broker
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "API stopped" in err
    assert token not in out + err and "hunter2" not in out + err
    assert (data / "tracks.db").exists()
