"""`civicsight models list | verify | pull` on the offline mirror."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from civicsight.models.cli import main
from civicsight.models.registry import load_registry


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_mirror: Path) -> Path:
    monkeypatch.setenv("CIVICSIGHT_MODEL_MIRROR", str(model_mirror))
    monkeypatch.setenv("CIVICSIGHT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_list_shows_every_model_with_licence_and_accuracy(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, spec in load_registry().items():
        line = next(x for x in out.splitlines() if x.startswith(name + " "))
        state = " site " if spec.site_setting else " ok "
        assert state in line and spec.licence in line


def test_verify_passes_on_the_mirror(env: Path) -> None:
    assert main(["verify"]) == 0


def test_verify_fails_on_a_corrupt_file_and_names_it(
    env: Path,
    model_mirror: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Guards against a corrupt model file passing unnoticed until a service crashes."""
    bad = env / "mirror"
    shutil.copytree(model_mirror / "reid_omz", bad / "reid_omz")
    target = bad / "reid_omz/person-reidentification-retail-0288/FP16"
    (target / "person-reidentification-retail-0288.bin").write_bytes(b"broken")
    monkeypatch.setenv("CIVICSIGHT_MODEL_MIRROR", str(bad))
    assert main(["verify", "reid-person-0288"]) == 1
    assert "person-reidentification-retail-0288.bin is corrupt" in capsys.readouterr().err


def test_pull_offline_fails_clearly(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On an air-gapped site a pull must fail with the URL and the mirror setting named."""
    monkeypatch.setenv("CIVICSIGHT_MODEL_MIRROR", str(env / "empty"))
    monkeypatch.setattr("socket.getaddrinfo", _no_network)
    assert main(["pull", "plate-det-y5fu-320"]) == 1
    err = capsys.readouterr().err
    assert "cannot download https://" in err and "CIVICSIGHT_MODEL_MIRROR" in err


def _no_network(*args: object, **kwargs: object) -> None:
    raise OSError("network unreachable (test: this site is offline)")


def test_unknown_model_is_a_usage_error(env: Path) -> None:
    assert main(["verify", "nope"]) == 2
