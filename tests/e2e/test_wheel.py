"""The hub as a wheel: built from the checkout, installed into a fresh virtualenv, and run
from a folder far from the checkout, so nothing can come from the source tree. The
virtualenv sees the hub's dependencies (a path file to the project's environment: they
are not what is tested, and a fresh download of PyTorch would take minutes), never the
checkout.

Checks `civicsight models verify`, `civicsight eval plates` on a few photos and
`civicsight up --demo` to its first track."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from civicsight.stack import free_port, stop_process

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the fresh virtualenv's bin folder, a working folder outside the checkout)."""
    root = tmp_path_factory.mktemp("wheel")
    wheels = root / "wheels"
    build = root / "src"
    # build from a copy of the tracked files: the checkout is left as it is
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (build / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, build / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(build)],
        check=True,
    )  # fmt: skip
    (wheel,) = wheels.glob("civicsight-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=clean_env())
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        cwd=root,
        env=clean_env(),
    )
    (target,) = (venv / "lib").glob("python3*/site-packages")
    (target / "hub-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    work = root / "elsewhere"
    work.mkdir()
    yield venv / "bin", work


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def test_the_package_comes_from_the_wheel(installed: tuple[Path, Path]) -> None:
    """Guards a test that passes because the checkout is on the path."""
    bin_dir, work = installed
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "import civicsight; print(civicsight.__file__)"],
        cwd=work, env=clean_env(), capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert str(bin_dir.parent) in where and str(REPO) not in where


def test_models_verify(installed: tuple[Path, Path], model_mirror: Path) -> None:
    bin_dir, work = installed
    run = subprocess.run(
        [str(bin_dir / "civicsight"), "models", "verify"],
        cwd=work, env=clean_env(CIVICSIGHT_MODEL_MIRROR=str(model_mirror)),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_eval_plates_on_a_few_photos(
    installed: tuple[Path, Path], model_mirror: Path, media_mirror: Path
) -> None:
    bin_dir, work = installed
    photos = work / "plates"
    photos.mkdir()
    for name in ("eu1", "eu2", "eu10"):
        for suffix in (".jpg", ".txt"):
            shutil.copy(media_mirror / "alpr_eu" / f"{name}{suffix}", photos)
    run = subprocess.run(
        [str(bin_dir / "civicsight"), "eval", "plates", str(photos), "--json"],
        cwd=work, capture_output=True, text=True, timeout=600,
        env=clean_env(CIVICSIGHT_MODEL_MIRROR=str(model_mirror), YOLO_OFFLINE="1"),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert result["plates"] == 3 and result["correct"] >= 2


def test_up_demo_reaches_its_first_track(
    installed: tuple[Path, Path], model_mirror: Path, media_mirror: Path
) -> None:
    """Guards a hub that runs from the checkout only: the demo's camera files, media list,
    plate formats, registry and web app all come from the installed package."""
    bin_dir, work = installed
    port = free_port()
    env = clean_env(
        CIVICSIGHT_MODEL_MIRROR=str(model_mirror),
        CIVICSIGHT_MEDIA_MIRROR=str(media_mirror),
        CIVICSIGHT_DATA_DIR=str(work / "data"),
        CIVICSIGHT_API_PORT=str(port),
        YOLO_OFFLINE="1",
    )
    log = (work / "up.log").open("w")
    hub = subprocess.Popen(
        [str(bin_dir / "civicsight"), "up", "--demo"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    try:
        assert hub.stdout is not None
        token = ""
        deadline = time.monotonic() + 180
        while not token and time.monotonic() < deadline:
            line = hub.stdout.readline()
            if not line:
                break
            if "#token=" in line:
                token = line.split("#token=")[1].split()[0]
        assert token, "up --demo printed no control-room link"
        url = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(url + "/") as page:
            assert b"/static/js/main.js" in page.read()  # the web app from the package
        found: list[object] = []
        deadline = time.monotonic() + 300
        while not found and time.monotonic() < deadline:
            req = urllib.request.Request(
                url + "/api/tracks?case=WHEEL-1&purpose=the+wheel+test",
                headers={"Authorization": f"Bearer {token}"},
            )
            with urllib.request.urlopen(req, timeout=10) as resp:
                found = json.loads(resp.read())["items"]
            time.sleep(3)
        assert found, "no track within five minutes"
    finally:
        stop_process(hub)
        log.close()
