"""The GPU benchmark's entry point runs (here on the CPU, tiny) and prints its JSON keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]


def test_gpu_bench_prints_one_json_object_on_cpu(media_mirror: Path, tmp_path: Path) -> None:
    """Guards against the prepared GPU check rotting while no GPU is at hand."""
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "civicsight.bench.detect_gpu",
            "--device",
            "cpu",
            "--frames",
            "2",
            "--batch",
            "2",
            "--baseline-frames",
            "1",
            "--json",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO),
            "YOLO_OFFLINE": "1",
            "CIVICSIGHT_MEDIA_MIRROR": str(media_mirror),
            "HOME": str(tmp_path),
        },
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"service_fps", "baseline_fps", "ratio", "forward_fps", "device", "model"} <= set(result)
    assert result["device"] == "cpu" and result["frames"] == 2
    assert json.loads(out.read_text()) == result
