"""``civicsight bench uploads`` runs the real API and reports each hostile case's answer."""

from __future__ import annotations

from pathlib import Path

from civicsight.bench.uploads import run


def test_every_case_is_refused_or_answered_as_designed(model_mirror: Path) -> None:
    result = run(1, model_mirror)
    statuses = {name: case["status"] for name, case in result["cases"].items()}  # type: ignore[union-attr]
    assert statuses == {
        "bomb_30000": [413],
        "bomb_50000_1bit": [413],
        "gif_as_jpeg": [415],
        "valid_4096": [200],
        "chunked_100mb_no_token": [401],
    }
