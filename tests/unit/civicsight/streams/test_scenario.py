"""Reading scenarios (FORMAT.md) into hub events: grouping, heartbeats, faces, bad lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from civicsight.events import Appearance, FrameDetections, PlateRead
from civicsight.streams.scenario import ReadStats, ScenarioError, open_scenario, read_events

EMB = [1.0] + [0.0] * 7


def write(root: Path, lines: list[dict[str, object] | str], links: bool = True) -> Path:
    cams = {
        "epoch": 1000.0,
        "fps": 5.0,
        "embedding_dim": 8,
        "cameras": [
            {"id": "cam-000", "x_m": 0, "y_m": 0},
            {"id": "cam-001", "x_m": 300, "y_m": 0},
        ],
        "links": [{"from": "cam-000", "to": "cam-001", "distance_m": 310.0}] if links else [],
    }
    (root / "cameras.json").write_text(json.dumps(cams))
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    (root / "events.jsonl").write_text(text + "\n")
    return root


def det(ts: float, frame: int, track: str = "cam-000/1", cam: str = "cam-000") -> dict[str, object]:
    return {
        "type": "detection",
        "camera_id": cam,
        "ts": ts,
        "frame_id": frame,
        "local_track_id": track,
        "cls": "car",
        "bbox": [10, 10, 50, 40],
        "conf": 0.9,
    }


def test_mapping_onto_hub_events(tmp_path: Path) -> None:
    """Guards: a frame's boxes split over several events, faces reaching the hub, a quiet
    camera's clock standing still (its tracklets would never close)."""
    lines: list[dict[str, object] | str] = [
        det(1000.2, 1),
        det(1000.2, 1, "cam-000/2"),
        {
            "type": "appearance",
            "camera_id": "cam-000",
            "ts": 1000.3,
            "local_track_id": "cam-000/1",
            "cls": "car",
            "quality": 0.7,
            "embedding": EMB,
        },
        {
            "type": "plate",
            "camera_id": "cam-000",
            "ts": 1000.35,
            "local_track_id": "cam-000/1",
            "text": "AB123CD",
            "conf": 0.8,
        },
        {
            "type": "face",
            "camera_id": "cam-001",
            "ts": 1000.4,
            "local_track_id": "cam-001/4",
            "quality": 0.9,
            "embedding": EMB,
        },
        det(1000.4, 2),
        det(1006.0, 30),
    ]
    scenario = open_scenario(write(tmp_path, lines))
    stats = ReadStats()
    events = list(read_events(scenario, stats))
    frames = [e for e in events if isinstance(e, FrameDetections)]
    own = [f for f in frames if f.camera_id == "cam-000" and f.boxes]
    assert [len(f.boxes) for f in own] == [2, 1, 1]
    assert [f.captured_at for f in own] == sorted(f.captured_at for f in own)
    assert sum(isinstance(e, Appearance) for e in events) == 1
    assert sum(isinstance(e, PlateRead) for e in events) == 1
    assert stats.dropped_faces == 1
    assert ("cam-001", 4) in stats.tracklets  # seen, so it gets a prediction line
    quiet = [f.captured_at for f in frames if f.camera_id == "cam-001"]
    assert quiet and not any(f.boxes for f in frames if f.camera_id == "cam-001")
    assert max(quiet) < 1006.0


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("{not json", "Expecting"),
        (
            {"type": "teleport", "camera_id": "cam-000", "ts": 1001, "local_track_id": "cam-000/1"},
            "unknown type",
        ),
        ({**det(1001, 5), "camera_id": "cam-009"}, "not in cameras.json"),
        ({**det(1001, 5), "local_track_id": "cam-001/1"}, "local_track_id"),
        ({**det(1001, 5), "cls": "unicorn"}, "unknown class"),
        ({**det(1001, 5), "conf": 3}, "conf"),
        (
            {
                "type": "plate",
                "camera_id": "cam-000",
                "ts": 1001,
                "local_track_id": "cam-000/1",
                "text": "ab 12",
                "conf": 0.5,
            },
            "text",
        ),
        (
            {
                "type": "appearance",
                "camera_id": "cam-000",
                "ts": 1001,
                "local_track_id": "cam-000/1",
                "cls": "car",
                "quality": 0.5,
                "embedding": [0.1, 0.2],
            },
            "embedding has 2",
        ),
        (det(999.0, 5), "not sorted"),
        ({**det(1001, 5), "race": "x"} | {"type": "race"}, "unknown type"),
    ],
)
def test_bad_line_stops_with_line_number_and_reason(
    tmp_path: Path, bad: dict[str, object] | str, reason: str
) -> None:
    """Guards: a broken scenario replayed half-way without saying where it broke."""
    scenario = open_scenario(write(tmp_path, [det(1000.2, 1), det(1000.4, 2), bad, det(1002, 9)]))
    with pytest.raises(ScenarioError) as err:
        list(read_events(scenario))
    assert ":3:" in str(err.value)
    assert reason in str(err.value)


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"cameras\.json"):
        open_scenario(tmp_path)
    write(tmp_path, [det(1000.2, 1)])
    (tmp_path / "events.jsonl").unlink()
    with pytest.raises(ScenarioError, match=r"events\.jsonl"):
        open_scenario(tmp_path)


def test_empty_links_list_gives_a_graph_from_positions(tmp_path: Path) -> None:
    scenario = open_scenario(write(tmp_path, [det(1000.2, 1)], links=False))
    assert not scenario.graph.from_links
    assert scenario.graph.distance("cam-000", "cam-001") == pytest.approx(300.0)
