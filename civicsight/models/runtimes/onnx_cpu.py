"""ONNX Runtime on the CPU, set up once for every model that uses it (the plate detector
and the plate reader): a fixed number of intra-op threads, no inter-op pool, warnings
only."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def cpu_session(onnx: Path, threads: int) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``onnx`` on ``threads`` CPU threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(onnx), opts, providers=["CPUExecutionProvider"])
