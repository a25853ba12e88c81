"""Which torch device to run on: the one place that asks whether CUDA is there."""

from __future__ import annotations

from pathlib import Path


def pick_device(wanted: str) -> str:
    """``auto`` is CUDA when present, else the CPU."""
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("CUDA was asked for but no CUDA device is available")
    return wanted


def cuda_present() -> bool:
    """Whether a CUDA device is usable; torch is imported only where an NVIDIA driver is."""
    if not Path("/dev/nvidiactl").exists():
        return False
    import torch

    return bool(torch.cuda.is_available())
