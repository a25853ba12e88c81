"""How every benchmark reports: one JSON object on stdout, optionally saved to a file,
naming the machine it ran on."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from pathlib import Path


def cpu_name() -> str:
    """The CPU model and core count, for the result's machine field."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} x{os.cpu_count()}"
    except OSError:
        pass
    return platform.processor() or "cpu"


ISA_FLAGS = {
    "avx2": "avx2",
    "avx512": "avx512f",
    "vnni": "avx512_vnni",
    "avx_vnni": "avx_vnni",
    "amx": "amx_int8",
}


def cpu_info(cpuinfo: str | None = None) -> dict[str, object]:
    """The CPU a benchmark ran on: model, cores, and the instruction sets that decide
    inference speed (AVX2, AVX-512, VNNI, AMX), read from ``/proc/cpuinfo``."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    model, flags = platform.processor() or "cpu", set[str]()
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "model name":
            model = value.strip()
        elif name.strip() == "flags":
            flags = set(value.split())
    return {
        "model": model,
        "cores": os.cpu_count(),
        "isa": [name for name, flag in ISA_FLAGS.items() if flag in flags],
    }


def emit(result: dict[str, object], one_line: bool, out: Path | None) -> None:
    print(json.dumps(result, indent=None if one_line else 2))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")


def store_options(parser: argparse.ArgumentParser) -> None:
    """The options of a benchmark that fills a store of its own: where it lives, whether
    to keep it, and how to report."""
    parser.add_argument("--dir", help="folder for the store (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary store")
    parser.add_argument("--json", action="store_true", help="one-line JSON")
    parser.add_argument("--out", type=Path, help="also write the JSON here")


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p95 of ``samples`` (seconds), in milliseconds."""
    ms = sorted(s * 1000 for s in samples)
    return {
        "p50": round(statistics.median(ms), 2),
        "p95": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 2),
    }
