"""Person re-identification with torchreid's OSNet: the only module that imports torch and
torchreid.

For sites that have OSNet weights (torchreid's model zoo, or their own training): the
weights file is a torchreid checkpoint (a ``state_dict``, optionally under a
``"state_dict"`` key, keys optionally prefixed ``module.``). Loading is strict about the
backbone: torchreid's own ``load_pretrained_weights`` skips layers whose names or shapes
do not match and only warns, which would leave a randomly initialised network that looks
like it works. Here every backbone tensor must be present with the right shape (only the
training classifier, whose size depends on the training identities, may differ), or
``start()`` fails and says which tensors are wrong.

Without a weights file the network is randomly initialised only when the caller asks for
it explicitly (``allow_random_weights=True``), for shape and speed checks. Its embeddings
mean nothing; its label says ``random-init`` so they are never mistaken for a model.

Input: BGR crops, stretched to 256x128, RGB, ImageNet mean/std (torchreid's defaults).
Output: the 512-d feature vector of the evaluation-mode network, L2-normalised.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from civicsight.checksums import sha256_file
from civicsight.models.runtimes.openvino_reid import embed_in_batches

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
CLASSIFIER_PREFIX = "classifier."


class WeightsError(RuntimeError):
    """An OSNet weights file that is missing, unreadable or for another network."""


@dataclass(frozen=True)
class OsnetOptions:
    arch: str = "osnet_x0_25"  # any torchreid model name (osnet_x1_0, osnet_ain_x1_0, ...)
    batch: int = 16  # crops per forward pass, at most
    height: int = 256
    width: int = 128
    # torch intra-op threads (process-wide). One is nearly as fast as two on an idle
    # 2-core machine (10 vs 9 ms per crop for osnet_x0_25) and stays fast when other
    # processes load the cores, where OpenMP threads waiting on each other made two
    # threads 70 times slower here. 0 leaves torch's default (one per core).
    threads: int = 1
    device: str = "auto"  # auto: CUDA when present (fp16 there), else the CPU


class TorchreidOsnet:
    """Batched OSNet embedder. Lifecycle: ``start()`` ... ``close()``."""

    def __init__(
        self,
        weights: Path | None,
        options: OsnetOptions | None = None,
        allow_random_weights: bool = False,
    ) -> None:
        self.weights = weights
        self.options = options or OsnetOptions()
        self.allow_random_weights = allow_random_weights
        self._torch: Any = None
        self._model: Any = None
        self._device = "cpu"
        self._dim = 0
        self._label = ""

    @property
    def trained(self) -> bool:
        """False when the network runs on random weights (its output means nothing)."""
        return self.weights is not None

    @property
    def label(self) -> str:
        """Model name and version for events: the weights file's hash, or ``random-init``."""
        return self._label

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def device(self) -> str:
        return self._device

    @property
    def input_size(self) -> tuple[int, int]:
        return (self.options.height, self.options.width)

    def start(self) -> None:
        if self.weights is None and not self.allow_random_weights:
            raise WeightsError(
                f"torchreid {self.options.arch}: no weights file set. Give the path of a "
                "trained checkpoint (CIVICSIGHT_REID_TORCHREID_WEIGHTS); random weights are "
                "used only when explicitly allowed (CIVICSIGHT_REID_TORCHREID_RANDOM_WEIGHTS=1)"
            )
        if self.weights is not None and not self.weights.is_file():
            raise WeightsError(f"torchreid {self.options.arch}: weights {self.weights} not found")
        with warnings.catch_warnings():  # "Cython evaluation is unavailable": training only
            warnings.simplefilter("ignore", UserWarning)
            import torch
            from torchreid.reid.models import build_model

        from civicsight.models.runtimes.torch_device import cuda_present, pick_device

        self._device = pick_device(
            self.options.device if self.options.device != "auto" or cuda_present() else "cpu"
        )
        if self.options.threads > 0 and self._device == "cpu":
            torch.set_num_threads(self.options.threads)
        try:
            model = build_model(
                self.options.arch, num_classes=1, pretrained=False, use_gpu=False
            )  # pretrained=True would download ImageNet weights: never at run time
        except KeyError as err:
            raise WeightsError(f"torchreid: {err.args[0]}") from None
        if self.weights is not None:
            load_strict(torch, model, self.weights, self.options.arch)
            self._label = f"torchreid-{self.options.arch}@{sha256_file(self.weights)[:12]}"
        else:
            self._label = f"torchreid-{self.options.arch}@random-init"
        model.eval().to(self._device)
        if self._device != "cpu":
            model.half()
        self._torch = torch
        self._model = model
        probe = np.zeros((1, *self.input_size, 3), np.uint8)
        self._dim = int(self._forward(probe).shape[1])

    def close(self) -> None:
        self._model = None
        self._torch = None

    def save(self, path: Path) -> None:
        """Write the network's weights as a torchreid checkpoint (``{"state_dict": ...}``)."""
        if self._model is None:
            raise RuntimeError("OSNet not started")
        self._torch.save({"state_dict": self._model.state_dict()}, path)

    def _forward(self, pixels: np.ndarray) -> np.ndarray:
        rgb = pixels[..., ::-1].astype(np.float32) / 255.0
        x = np.ascontiguousarray(((rgb - MEAN) / STD).transpose(0, 3, 1, 2))
        with self._torch.inference_mode():
            batch = self._torch.from_numpy(x).to(self._device)
            out = self._model(batch.half() if self._device != "cpu" else batch)
        return np.asarray(out.float().cpu().numpy(), np.float32)

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """One unit-length embedding row per BGR crop, in order: (len(images), dim) f32."""
        if self._model is None:
            raise RuntimeError("OSNet not started")
        return embed_in_batches(
            images, self.input_size, self.options.batch, self._dim, self._forward
        )


def load_strict(torch: Any, model: Any, path: Path, arch: str) -> None:
    """Load ``path`` into ``model``; every backbone tensor must match (see module doc)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file
        raise WeightsError(f"{path}: not a readable torch checkpoint ({err})") from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: no state_dict in the checkpoint")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.startswith(CLASSIFIER_PREFIX)]
    wrong = [
        k
        for k, v in state.items()
        if k in own
        and not k.startswith(CLASSIFIER_PREFIX)
        and tuple(v.shape) != tuple(own[k].shape)
    ]
    unknown = [k for k in state if k not in own]
    if missing or wrong or unknown:
        parts = [
            f"{what} {len(keys)} (e.g. {', '.join(keys[:3])})"
            for what, keys in (("missing", missing), ("wrong shape", wrong), ("unknown", unknown))
            if keys
        ]
        raise WeightsError(f"{path}: not {arch} weights: " + "; ".join(parts))
    backbone = {k: v for k, v in state.items() if not k.startswith(CLASSIFIER_PREFIX)}
    model.load_state_dict(backbone, strict=False)
