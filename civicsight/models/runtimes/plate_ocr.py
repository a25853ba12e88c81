"""Plate text recognition: the PaddleOCR v4 recogniser (shipped in rapidocr-onnxruntime)
on onnxruntime, with its output restricted to plate characters.

The network reads one text line (BGR, height 48, any width; pixels scaled to [-1, 1]) and
gives per time step (one step per 8 input columns) a softmax over its ~6600 characters
plus the CTC blank. ``recognize`` projects that onto ``ALPHABET`` plus blank: lower case
letters are added to their upper case, separators (space, dash, dot, ...) to the blank,
everything else (other scripts, symbols) is dropped, and each step is renormalised. That
equals masking the logits to those characters before the softmax, so CTC decoding can
only ever produce plate characters.

onnxruntime is opened by ``onnx_cpu`` (shared with ``plate_detector``; rapidocr itself is not used:
its file is loaded directly).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from civicsight.models.runtimes.onnx_cpu import cpu_session

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SEPARATORS = " -_.,:;·•|/\\'\"`"
LINE_HEIGHT = 48
MIN_WIDTH = 48
MAX_WIDTH = 960


def projection(characters: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """How the model's classes (blank, the character list, and the trailing space
    rapidocr adds) map onto blank + ALPHABET: the indices of the classes that matter and,
    for each, its target column. Other classes are dropped."""
    classes = ["", *characters, " "]
    sources: list[int] = [0]
    targets: list[int] = [0]
    for i, ch in enumerate(classes[1:], start=1):
        up = ch.upper()
        if len(up) == 1 and up in ALPHABET:
            sources.append(i)
            targets.append(1 + ALPHABET.index(up))
        elif ch == "" or ch in SEPARATORS:
            sources.append(i)
            targets.append(0)
    return np.array(sources, np.int64), np.array(targets, np.int64)


def project(probs: np.ndarray, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(..., classes) softmax outputs -> (..., 1 + len(ALPHABET)), renormalised."""
    picked = probs[..., sources]
    out = np.zeros((*probs.shape[:-1], 1 + len(ALPHABET)), np.float32)
    for k in range(len(sources)):
        out[..., targets[k]] += picked[..., k]
    out /= np.maximum(out.sum(axis=-1, keepdims=True), 1e-12)
    return out


def line_tensor(lines: Sequence[np.ndarray], min_width: int = MIN_WIDTH) -> np.ndarray:
    """A batch (n, 3, 48, W) of BGR text lines scaled to height 48, padded on the right."""
    widths: list[int] = []
    for line in lines:
        if line.ndim != 3 or line.shape[2] != 3 or min(line.shape[:2]) < 2:
            raise ValueError(f"expected a BGR text line (h, w, 3), got shape {line.shape}")
        h, w = line.shape[:2]
        widths.append(int(min(MAX_WIDTH, max(8, np.ceil(LINE_HEIGHT * w / h)))))
    width = max(min_width, *widths)
    batch = np.zeros((len(lines), 3, LINE_HEIGHT, width), np.float32)
    for k, (line, w) in enumerate(zip(lines, widths, strict=True)):
        resized = cv2.resize(line, (w, LINE_HEIGHT), interpolation=cv2.INTER_LINEAR)
        batch[k, :, :, :w] = resized.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
    return batch


class PlateRecognizer:
    """PP-OCRv4 text-line recogniser limited to plate characters. ``start()`` ... ``close()``."""

    def __init__(self, onnx: Path, threads: int = 1, batch: int = 8) -> None:
        self.onnx = onnx
        self.threads = threads
        self.batch = batch
        self._session: Any = None
        self._input = ""
        self._sources = np.zeros(0, np.int64)
        self._targets = np.zeros(0, np.int64)

    def start(self) -> None:
        session = cpu_session(self.onnx, self.threads)
        meta = session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise RuntimeError(f"{self.onnx.name}: no character list in the model metadata")
        characters = meta["character"].splitlines()
        classes = session.get_outputs()[0].shape[-1]
        if classes != len(characters) + 2:
            raise RuntimeError(
                f"{self.onnx.name}: {classes} output classes for {len(characters)} characters"
            )
        self._sources, self._targets = projection(characters)
        self._session, self._input = session, session.get_inputs()[0].name

    def close(self) -> None:
        self._session = None

    def recognize(self, lines: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per BGR text line: (steps, 1 + len(ALPHABET)) probabilities, column 0 the CTC
        blank, then ``ALPHABET``; each row sums to 1."""
        if self._session is None:
            raise RuntimeError("plate recogniser not started")
        out: list[np.ndarray] = [np.zeros((0, 1 + len(ALPHABET)), np.float32)] * len(lines)
        order = sorted(range(len(lines)), key=lambda i: lines[i].shape[1] / lines[i].shape[0])
        for start in range(0, len(order), self.batch):
            chunk = order[start : start + self.batch]
            tensor = line_tensor([lines[i] for i in chunk])
            (probs,) = self._session.run(None, {self._input: tensor})
            projected = project(probs, self._sources, self._targets)
            for k, i in enumerate(chunk):
                h, w = lines[i].shape[:2]
                steps = -(-int(min(MAX_WIDTH, max(8, np.ceil(LINE_HEIGHT * w / h)))) // 8)
                out[i] = projected[k, :steps]
        return out
