"""Multi-camera scenarios (``../shared/mtmc/FORMAT.md``) mapped onto the hub's events.

A scenario line becomes what the perception services would have published:
``detection`` lines of one camera frame become one ``FrameDetections``, ``appearance``
an ``Appearance``, ``plate`` a ``PlateRead``. ``face`` lines are dropped here: faces
never link tracks, and a face that matches no watchlist entry never exists in the hub.
A line that is not valid stops the reading with its line number and the reason.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError

from civicsight.events import (
    TRACKED_CLASSES,
    Appearance,
    Box,
    Event,
    FrameDetections,
    ObjectClass,
    PlateRead,
)
from civicsight.streams.association.transit import CameraGraph, CameraSpot

HEARTBEAT = 2.0
"""A camera with nothing in view still sends frames: the replay sends an empty frame for a
camera whose last frame is this many seconds old, so its clock keeps moving."""
FRAME_WIDTH = 1920
FRAME_HEIGHT = 1080
MODEL = "scenario"


class ScenarioError(ValueError):
    """A scenario file that does not follow the format."""


@dataclass(frozen=True)
class Scenario:
    root: Path
    graph: CameraGraph
    epoch: float
    fps: float
    embedding_dim: int
    events_path: Path
    truth_path: Path | None

    @property
    def name(self) -> str:
        return self.root.name


def load_graph(path: Path) -> CameraGraph:
    """The camera graph of a ``cameras.json`` (FORMAT.md): positions and links."""
    try:
        doc = json.loads(Path(path).read_text())
        spots = [CameraSpot(str(c["id"]), float(c["x_m"]), float(c["y_m"])) for c in doc["cameras"]]
        links = [
            (str(link["from"]), str(link["to"]), float(link["distance_m"]))
            for link in doc.get("links", [])
        ]
        return CameraGraph.build(spots, links)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ScenarioError(f"{path}: {err!r}") from err


def open_scenario(root: Path) -> Scenario:
    root = Path(root)
    cams_path = root / "cameras.json"
    if not cams_path.is_file():
        raise ScenarioError(f"{root}: no cameras.json")
    graph = load_graph(cams_path)
    try:
        doc = json.loads(cams_path.read_text())
        epoch = float(doc.get("epoch", 0.0))
        fps = float(doc.get("fps", 5.0))
        dim = int(doc.get("embedding_dim", 128))
    except (ValueError, KeyError, TypeError) as err:
        raise ScenarioError(f"{cams_path}: {err!r}") from err
    for name in ("events.jsonl.gz", "events.jsonl"):
        if (root / name).is_file():
            events = root / name
            break
    else:
        raise ScenarioError(f"{root}: no events.jsonl or events.jsonl.gz")
    truth = root / "truth.jsonl"
    return Scenario(root, graph, epoch, fps, dim, events, truth if truth.is_file() else None)


@dataclass
class ReadStats:
    lines: int = 0
    frames: int = 0
    published: dict[str, int] = field(default_factory=dict)
    dropped_faces: int = 0
    heartbeats: int = 0
    tracklets: set[tuple[str, int]] = field(default_factory=set)


def _track_number(camera: str, local: str) -> int:
    prefix, _, number = local.rpartition("/")
    if prefix != camera or not number.isdigit():
        raise ValueError(f"local_track_id {local!r} is not '{camera}/<number>'")
    return int(number)


def _cls(value: Any) -> ObjectClass:
    if value not in TRACKED_CLASSES:
        raise ValueError(f"unknown class {value!r}")
    return cast(ObjectClass, value)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        yield from enumerate(f, start=1)


def read_events(scenario: Scenario, stats: ReadStats | None = None) -> Iterator[Event]:
    """The scenario as hub events, in capture order (a frame's boxes once it is complete)."""
    stats = stats if stats is not None else ReadStats()
    frames: dict[str, tuple[int, float, list[Box]]] = {}
    last_frame: dict[str, float] = {}
    fps = scenario.fps

    def frame_event(camera: str) -> FrameDetections:
        seq, ts, boxes = frames.pop(camera)
        stats.frames += 1
        last_frame[camera] = ts
        return FrameDetections(
            camera_id=camera,
            seq=seq,
            captured_at=ts,
            width=FRAME_WIDTH,
            height=FRAME_HEIGHT,
            model=MODEL,
            boxes=tuple(boxes),
            detected_at=ts,
        )

    def catch_up(now: float) -> Iterator[FrameDetections]:
        """Complete frames older than ``now`` and heartbeats of quiet cameras."""
        for camera in sorted(frames):
            if frames[camera][1] < now:
                yield frame_event(camera)
        for camera in known:
            last = last_frame.get(camera, scenario.epoch)
            if camera not in frames and now - last > HEARTBEAT:
                at = last + HEARTBEAT * math.floor((now - last) / HEARTBEAT)
                if at >= now:
                    at -= HEARTBEAT
                if at > last:
                    frames[camera] = (max(0, int((at - scenario.epoch) * fps)), at, [])
                    stats.heartbeats += 1
                    yield frame_event(camera)

    path = scenario.events_path
    known = sorted(scenario.graph.cameras)
    checked = -math.inf
    for lineno, line in _lines(path):
        stats.lines = lineno
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
            kind = doc["type"]
            camera = str(doc["camera_id"])
            if camera not in known:
                raise ValueError(f"camera {camera!r} is not in cameras.json")
            ts = float(doc["ts"])
            track = _track_number(camera, str(doc["local_track_id"]))
            if ts < checked:
                raise ValueError(f"ts {ts} is earlier than an earlier line's (not sorted)")
            out: Event | None = None
            box: Box | None = None
            if kind == "detection":
                x1, y1, x2, y2 = (float(v) for v in doc["bbox"])
                box = Box(
                    x1=min(max(0.0, x1), FRAME_WIDTH),
                    y1=min(max(0.0, y1), FRAME_HEIGHT),
                    x2=min(max(0.0, x2), FRAME_WIDTH),
                    y2=min(max(0.0, y2), FRAME_HEIGHT),
                    cls=_cls(doc["cls"]),
                    conf=float(doc["conf"]),
                    track_id=track,
                )
                if int(doc["frame_id"]) < 0:
                    raise ValueError("frame_id below 0")
            elif kind == "appearance":
                emb = doc["embedding"]
                if len(emb) != scenario.embedding_dim:
                    raise ValueError(
                        f"embedding has {len(emb)} values, cameras.json says "
                        f"{scenario.embedding_dim}"
                    )
                out = Appearance(
                    camera_id=camera,
                    track_id=track,
                    captured_at=ts,
                    cls=_cls(doc["cls"]),
                    quality=float(doc["quality"]),
                    model=MODEL,
                    embedding=tuple(float(v) for v in emb),
                )
            elif kind == "plate":
                out = PlateRead(
                    camera_id=camera,
                    track_id=track,
                    captured_at=ts,
                    text=str(doc["text"]),
                    conf=float(doc["conf"]),
                )
            elif kind == "face":
                stats.dropped_faces += 1  # never linked, never published
            else:
                raise ValueError(f"unknown type {kind!r}")
        except (ValueError, KeyError, TypeError, ValidationError) as err:
            reason: object = err
            if isinstance(err, ValidationError):
                first = err.errors()[0]
                reason = f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
            raise ScenarioError(f"{path}:{lineno}: {reason}") from None
        stats.tracklets.add((camera, track))
        if ts > checked:
            yield from catch_up(ts)
            checked = ts
        if kind == "detection":
            seq = int(doc["frame_id"])
            pending = frames.get(camera)
            if pending is not None and pending[0] != seq:
                yield frame_event(camera)
                pending = None
            if box is not None:
                if pending is None:
                    frames[camera] = (seq, ts, [box])
                else:
                    pending[2].append(box)
        if out is not None:
            stats.published[out.kind] = stats.published.get(out.kind, 0) + 1
            yield out
    for camera in sorted(frames, key=lambda c: frames[c][1]):
        yield frame_event(camera)


def read_truth(path: Path) -> list[dict[str, Any]]:
    rows = []
    for lineno, line in _lines(path):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as err:
                raise ScenarioError(f"{path}:{lineno}: {err}") from None
    return rows
