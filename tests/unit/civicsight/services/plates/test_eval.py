"""`civicsight eval plates DIR`: accuracy, confusions and timing on labelled photos."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from civicsight.services.plates.eval import EvalError, load_folder, main

# two plates read right, and one whose label has the letter O in a digit position
PHOTOS = ["eu10", "test_002", "test_006"]


@pytest.fixture
def folder(tmp_path: Path, media_mirror: Path) -> Path:
    out = tmp_path / "photos"
    out.mkdir()
    for name in PHOTOS:
        for suffix in (".jpg", ".txt"):
            shutil.copy(media_mirror / "alpr_eu" / f"{name}{suffix}", out)
    return out


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, model_mirror: Path, tmp_path: Path) -> None:
    monkeypatch.setenv("CIVICSIGHT_MODEL_MIRROR", str(model_mirror))
    monkeypatch.setenv("CIVICSIGHT_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.usefixtures("env")
def test_json_report(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Guards against the report the lead's CLI and CI parse losing its keys, and
    against accuracy that does not follow the labels."""
    assert main([str(folder), "--json", "--regions", "europe"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert {"exact_accuracy", "plates", "ms_per_plate", "confusions", "misreads"} <= set(result)
    assert result["plates"] == 3 and result["correct"] == 2
    assert result["exact_accuracy"] == pytest.approx(2 / 3, abs=1e-3)
    assert result["ms_per_plate"] > 0
    assert {"truth": "O", "read": "0", "count": 1} in result["confusions"]
    assert [m["file"] for m in result["misreads"]] == ["test_006.jpg"]
    assert "3/3 photos" in err  # progress on stderr


@pytest.mark.usefixtures("env")
def test_text_report(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(folder), "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "accuracy: 1.0" in out and "ms per plate" in out


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d / "missing", "no such folder"),
        (lambda d: d / "file.txt" if (d / "file.txt").write_text("x") else d, "not a folder"),
        (lambda d: d, "no labelled photos"),
    ],
    ids=["missing", "file", "empty"],
)
def test_bad_folders_are_clear_errors(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    setup: Callable[[Path], Path],
    message: str,
) -> None:
    """Guards against a traceback (or an accuracy of 0) for a mistyped folder."""
    target = setup(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main([str(target)])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "line", ["a.jpg 1 2 3", "a.jpg x 2 3 4 AB1", "a.jpg 1 2 0 4 AB1", "a.jpg 1 2 3 4 --"]
)
def test_bad_label_lines_name_the_file_and_line(tmp_path: Path, line: str) -> None:
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "a.txt").write_text("\n" + line + "\n")
    with pytest.raises(EvalError, match=r"a\.txt:2: expected 'file x y w h PLATE'"):
        load_folder(tmp_path)


def test_labels_are_normalised(tmp_path: Path) -> None:
    """Guards against 'RK 857-AI' in a label never matching the read RK857AI."""
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "a.txt").write_text("a.jpg 1 2 3 4 rk 857-ai\n")
    (photo,) = load_folder(tmp_path)
    assert photo.labels[0].text == "RK857AI"
    assert photo.labels[0].box == (1.0, 2.0, 4.0, 6.0)


@pytest.mark.usefixtures("env")
def test_unreadable_photo_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8 not really")
    (tmp_path / "a.txt").write_text("a.jpg 1 2 3 4 AB123\n")
    assert main([str(tmp_path)]) == 2
    assert "a.jpg: not a readable image" in capsys.readouterr().err
