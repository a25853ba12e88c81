"""How every benchmark reports: one JSON object on stdout, optionally saved to a file,
naming the machine it ran on."""

from __future__ import annotations

import argparse
import json
import os
import platform
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
