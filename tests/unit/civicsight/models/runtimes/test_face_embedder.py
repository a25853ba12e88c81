"""dlib's ResNet on YuNet boxes of real photos: one person's faces lie close, others far."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from civicsight.models.registry import resolve
from civicsight.models.runtimes.face_detector import YuNetDetector
from civicsight.models.runtimes.face_embedder import DlibFaceEmbedder
from tests.support import media_file

PHOTOS = (
    "train_obama_obama.jpg",
    "train_obama_obama2.jpg",
    "test_obama1.jpg",
    "train_biden_biden.jpg",
    "train_rose_leslie_img1.jpg",
    "train_rose_leslie_img2.jpg",
    "train_kit_harington_john1.jpeg",
    "test_johnsnow_test1.jpg",  # Kit Harington as Jon Snow
)


def photo(name: str) -> np.ndarray:
    image = cv2.imread(str(media_file(f"faces/{name}")))
    assert image is not None
    return image


@pytest.fixture(scope="module")
def models(model_mirror: Path) -> Iterator[tuple[YuNetDetector, DlibFaceEmbedder]]:
    spec, folder = resolve("face-det-yunet-s", model_mirror)
    det = YuNetDetector(folder / spec.files[0].name)
    _, emb_folder = resolve("face-embed-dlib-resnet", model_mirror)
    emb = DlibFaceEmbedder(emb_folder)
    det.start()
    emb.start()
    yield det, emb
    emb.close()
    det.close()


@pytest.fixture(scope="module")
def faces(models: tuple[YuNetDetector, DlibFaceEmbedder]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, its confident YuNet boxes) per photo."""
    det, _ = models
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for name in PHOTOS:
        image = photo(name)
        found = det.detect(image)
        out.append((image, found.boxes[found.scores >= 0.8]))
    return out


@pytest.fixture(scope="module")
def embeddings(
    models: tuple[YuNetDetector, DlibFaceEmbedder], faces: list[tuple[np.ndarray, np.ndarray]]
) -> dict[str, np.ndarray]:
    _, emb = models
    vectors = emb.embed(faces)
    return {name: v[0] for name, v in zip(PHOTOS, vectors, strict=True)}


@pytest.mark.parametrize(
    ("anchor", "same", "other"),
    [
        ("train_obama_obama.jpg", "test_obama1.jpg", "train_biden_biden.jpg"),
        ("train_obama_obama2.jpg", "train_obama_obama.jpg", "train_kit_harington_john1.jpeg"),
        ("train_rose_leslie_img1.jpg", "train_rose_leslie_img2.jpg", "train_obama_obama.jpg"),
        ("train_kit_harington_john1.jpeg", "test_johnsnow_test1.jpg", "train_rose_leslie_img1.jpg"),
    ],
)
def test_same_person_is_closer_than_different_people(
    embeddings: dict[str, np.ndarray], anchor: str, same: str, other: str
) -> None:
    """Guards the alignment (shape predictor on YuNet boxes, colour order): a broken chip
    makes everyone look alike or nobody look like themselves."""
    a = embeddings[anchor]
    d_same = float(np.linalg.norm(a - embeddings[same]))
    d_other = float(np.linalg.norm(a - embeddings[other]))
    assert d_same < 0.5 < 0.6 < d_other


def test_batch_gives_the_same_vectors_as_one_by_one(
    models: tuple[YuNetDetector, DlibFaceEmbedder],
    faces: list[tuple[np.ndarray, np.ndarray]],
    embeddings: dict[str, np.ndarray],
) -> None:
    """Guards against mixing up faces when a batch's chips are split back per image."""
    _, emb = models
    group = photo("two_people.jpg")
    blank = np.zeros((64, 64, 3), np.uint8)
    items = [faces[2], (blank, np.zeros((0, 4))), (group, np.array([[241, 30, 383, 226]]))]
    together = emb.embed(items)
    assert [v.shape for v in together] == [(1, 128), (0, 128), (1, 128)]
    np.testing.assert_allclose(together[0][0], embeddings[PHOTOS[2]], atol=1e-4)
    (alone,) = emb.embed([items[2]])
    np.testing.assert_allclose(together[2], alone, atol=1e-4)


def test_matches_dlibs_own_pipeline_on_an_rgb_file(
    models: tuple[YuNetDetector, DlibFaceEmbedder],
    faces: list[tuple[np.ndarray, np.ndarray]],
    embeddings: dict[str, np.ndarray],
    model_mirror: Path,
) -> None:
    """Guards the BGR -> RGB conversion and the chip geometry: the adapter must give what
    dlib computes from the same box on the file loaded as RGB by dlib itself."""
    import dlib

    _, folder = resolve("face-embed-dlib-resnet", model_mirror)
    shape = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
    net = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))
    rgb = dlib.load_rgb_image(str(media_file(f"faces/{PHOTOS[0]}")))
    x1, y1, x2, y2 = (round(float(v)) for v in faces[0][1][0])
    landmarks = shape(rgb, dlib.rectangle(x1, y1, x2, y2))
    reference = np.array(net.compute_face_descriptor(rgb, landmarks))
    assert float(np.linalg.norm(reference - embeddings[PHOTOS[0]])) < 1e-3


def test_lifecycle_errors_are_clear(tmp_path: Path) -> None:
    emb = DlibFaceEmbedder(tmp_path)
    with pytest.raises(RuntimeError, match="not started"):
        emb.embed([])
    with pytest.raises(FileNotFoundError, match=r"dlib_face_recognition_resnet_model_v1\.dat"):
        emb.start()
