"""How every benchmark reports: one JSON object on stdout, optionally saved to a file."""

from __future__ import annotations

import json
from pathlib import Path


def emit(result: dict[str, object], one_line: bool, out: Path | None) -> None:
    print(json.dumps(result, indent=None if one_line else 2))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
