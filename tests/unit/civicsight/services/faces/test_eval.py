"""The faces eval: identities from file names, FAR/TAR arithmetic, and a run on the samples."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from civicsight.services.faces.eval import (
    EvalError,
    identities,
    main,
    pair_distances,
    rates,
    threshold_at_far,
)
from tests.support import media_file

SAMPLE_NAMES = [
    "obama3.jpg",
    "test_alex_lacamoire1.jpg",
    "test_johnsnow_test1.jpg",
    "test_kit_with_rose.jpg",
    "test_obama1.jpg",
    "test_obama_and_biden.jpg",
    "train_alex_lacamoire_img1.jpg",
    "train_biden_biden.jpg",
    "train_biden_biden2.jpg",
    "train_kit_harington_john1.jpeg",
    "train_kit_harington_john2.jpeg",
    "train_obama_obama.jpg",
    "train_obama_obama2.jpg",
    "train_rose_leslie_img1.jpg",
    "train_rose_leslie_img2.jpg",
    "two_people.jpg",
]


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("obama3.jpg", "obama"),
        ("test_obama1.jpg", "obama"),
        ("train_obama_obama2.jpg", "obama"),
        ("train_biden_biden.jpg", "biden"),
        ("test_alex_lacamoire1.jpg", "alex_lacamoire"),
        ("train_alex_lacamoire_img1.jpg", "alex_lacamoire"),
        ("train_kit_harington_john2.jpeg", "kit_harington"),
        ("train_rose_leslie_img1.jpg", "rose_leslie"),
        ("test_johnsnow_test1.jpg", "johnsnow"),
        ("test_kit_with_rose.jpg", None),
        ("test_obama_and_biden.jpg", None),
        ("two_people.jpg", None),
    ],
)
def test_identity_comes_from_the_file_name(name: str, want: str | None) -> None:
    """Guards against mislabelled pairs: a wrong identity turns a true match into a
    'false accept' (or the reverse) and skews every rate."""
    assert identities(SAMPLE_NAMES).get(name) == want


def test_alias_merges_two_names_of_one_person() -> None:
    got = identities(SAMPLE_NAMES, {"johnsnow": "kit_harington"})
    assert got["test_johnsnow_test1.jpg"] == "kit_harington"
    assert sorted(set(got.values())) == [
        "alex_lacamoire",
        "biden",
        "kit_harington",
        "obama",
        "rose_leslie",
    ]


@pytest.mark.parametrize(
    ("different", "far", "want"),
    [
        ([0.7, 0.8, 0.9], 0.01, 0.7),  # no false accept allowed: below the nearest
        ([0.9, 0.7, 0.8, 1.0] * 25, 0.01, 0.7),  # 1 of 100 allowed, but 25 tie at 0.7
        (list(np.linspace(0.5, 1.0, 200)), 0.01, float(np.linspace(0.5, 1.0, 200)[2])),
        ([0.7], 0.99, 0.7),
    ],
    ids=["few-pairs", "ties", "two-allowed", "one-pair"],
)
def test_threshold_holds_the_false_accept_rate(
    different: list[float], far: float, want: float
) -> None:
    """Guards the operating point: at the reported threshold no more than ``far`` of the
    different-person pairs are accepted (distance < threshold)."""
    d = np.array(different)
    t = threshold_at_far(d, far)
    assert t == pytest.approx(want)
    assert (d < t).mean() <= far


def test_rates_and_pairs() -> None:
    vectors = np.array([[0.0, 0], [0.3, 0], [1.0, 0], [1.0, 0.2]])
    same, different = pair_distances(vectors, ["a", "a", "b", "b"])
    assert sorted(same.round(3)) == [0.2, 0.3]
    assert len(different) == 4
    assert rates(same, different, 0.25) == (0.5, 0.0)
    tar, far = rates(same, np.array([]), 0.5)
    assert tar == 1.0 and math.isnan(far)


def test_threshold_needs_different_pairs() -> None:
    with pytest.raises(EvalError, match="two people"):
        threshold_at_far(np.array([]), 0.01)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, model_mirror: Path, tmp_path: Path) -> None:
    monkeypatch.setenv("CIVICSIGHT_MODEL_MIRROR", str(model_mirror))
    monkeypatch.setenv("CIVICSIGHT_DATA_DIR", str(tmp_path))


@pytest.mark.usefixtures("env")
def test_eval_on_the_sample_faces_reports_the_operating_point(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The whole eval on the sample folder: every key the README and CI read, and the
    numbers the default threshold was chosen from."""
    folder = media_file("faces")
    assert main([str(folder), "--json", "--alias", "johnsnow=kit_harington"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {
        "threshold_at_far",
        "tar_at_far",
        "far_at_threshold",
        "far_target",
        "service_threshold",
        "distances",
        "ms_per_face",
        "pairs",
        "identities",
        "skipped",
    }
    assert out["faces"] == 13 and out["pairs"] == {"same": 12, "different": 66}
    assert out["far_target"] == 0.01 and out["far_at_threshold"] <= 0.01
    assert out["tar_at_far"] == 1.0
    assert out["service_threshold"] == {"threshold": 0.5, "tar": 1.0, "far": 0.0}
    assert out["distances"]["same"]["max"] < 0.5 < out["distances"]["different"]["min"]
    assert set(out["skipped"]) == {
        "test_kit_with_rose.jpg",
        "test_obama_and_biden.jpg",
        "two_people.jpg",
    }
    assert out["ms_per_face"]["embed"] > 0


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize(
    ("kind", "problem"),
    [("missing", "not a folder"), ("empty", "no photos"), ("broken-photo", "not an image")],
)
def test_bad_folder_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, problem: str
) -> None:
    """Guards against a traceback (or a silent empty report) for an unusable folder."""
    folder = tmp_path / "faces"
    if kind != "missing":
        folder.mkdir()
    if kind == "broken-photo":
        (folder / "train_a_1.jpg").write_bytes(b"not a jpeg")
    assert main([str(folder)]) == 2
    assert problem in capsys.readouterr().err
