"""The benchmarks' own demo hub: its camera files."""

from __future__ import annotations

from pathlib import Path

import yaml

from civicsight.bench.hub import camera_files
from civicsight.cameras import load_cameras


def test_more_cameras_than_the_demo_repeat_it_under_new_ids(tmp_path: Path) -> None:
    """Guards the bug where repeated cameras kept their id and overwrote each other."""
    ids = camera_files(6, tmp_path)
    assert len(set(ids)) == 6
    assert {c.id for c in load_cameras(tmp_path)} == set(ids)
    repeat = yaml.safe_load((tmp_path / f"{ids[4]}.yaml").read_text())
    assert repeat["id"].endswith("-2")
