"""The event contract: every message on the bus is one of these frozen, versioned types.

Each type forbids unknown fields, so an attribute the hub must never hold (race,
ethnicity, skin colour, ...) can never be represented: a producer that tries is
refused at construction, a consumer that receives one sends it to the dead-letter
topic. Foreign formats enter only through the ``from_*`` constructors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from civicsight.traffic import StreamRow

SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"
CameraId = Annotated[str, Field(pattern=SLUG, description="camera id, lower case slug")]
Seconds = Annotated[float, Field(ge=0, description="Unix time in seconds")]
Score = Annotated[float, Field(ge=0.0, le=1.0)]
ObjectClass = Literal["person", "bicycle", "car", "motorcycle", "bus", "truck"]
VehicleColour = Literal["white", "gray", "yellow", "red", "green", "blue", "black"]
VehicleType = Literal["car", "van", "truck", "bus"]
TRACKED_CLASSES: tuple[str, ...] = ("person", "bicycle", "car", "motorcycle", "bus", "truck")
RuleId = Annotated[
    str, Field(pattern=SLUG, description="id of a counting line or zone, unique per camera")
]
DirectionName = Annotated[
    str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="name of a crossing direction")
]


class DecodeError(ValueError):
    """A message that is not a valid event of the expected type."""


class Event(BaseModel):
    """Base of every event: frozen, strict about fields, carries its schema version."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )
    kind: ClassVar[str]
    schema_version: Literal[1] = Field(1, description="version of this event's schema")

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, data: bytes | None) -> Self:
        if data is None:
            raise DecodeError(f"{cls.__name__}: empty message")
        try:
            return cls.model_validate_json(data)
        except ValueError as err:
            raise DecodeError(f"{cls.__name__}: {err}") from err


class Box(BaseModel):
    """One detected object in pixel coordinates of its frame."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    x1: float = Field(ge=0)
    y1: float = Field(ge=0)
    x2: float = Field(ge=0)
    y2: float = Field(ge=0)
    cls: ObjectClass
    conf: Score
    track_id: int | None = Field(None, ge=0, description="single-camera tracker id")

    @model_validator(mode="after")
    def _ordered(self) -> Box:
        if self.x2 < self.x1 or self.y2 < self.y1:
            raise ValueError("box corners out of order")
        return self

    @property
    def area(self) -> float:
        return (self.x2 - self.x1) * (self.y2 - self.y1)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)


class Frame(Event):
    """One sampled, JPEG-encoded camera frame."""

    kind: ClassVar[str] = "frame"
    camera_id: CameraId
    seq: int = Field(ge=0, description="frame number within this camera's run")
    captured_at: Seconds
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    jpeg: bytes = Field(min_length=4, repr=False)

    @property
    def frame_id(self) -> str:
        return f"{self.camera_id}:{self.seq}:{self.captured_at:.3f}"


class FrameDetections(Event):
    """The boxes (with tracker ids) found in one frame."""

    kind: ClassVar[str] = "detections"
    camera_id: CameraId
    seq: int = Field(ge=0)
    captured_at: Seconds
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    model: str = Field(description="model name and version that produced the boxes")
    boxes: tuple[Box, ...] = ()
    detected_at: Seconds = Field(description="when detection finished")

    @classmethod
    def from_arrays(
        cls,
        frame: Frame,
        xyxy: Sequence[Sequence[float]],
        conf: Sequence[float],
        classes: Sequence[str],
        track_ids: Sequence[int | None],
        model: str,
        detected_at: float,
    ) -> FrameDetections:
        """Build from a detector's parallel arrays (pixel xyxy, confidence, class name, id)."""
        w, h = frame.width, frame.height
        boxes = tuple(
            Box(
                x1=min(max(0.0, float(b[0])), w),
                y1=min(max(0.0, float(b[1])), h),
                x2=min(max(0.0, float(b[2])), w),
                y2=min(max(0.0, float(b[3])), h),
                cls=c,
                conf=min(1.0, max(0.0, float(p))),
                track_id=t,
            )
            for b, p, c, t in zip(xyxy, conf, classes, track_ids, strict=True)
        )
        return cls(
            camera_id=frame.camera_id,
            seq=frame.seq,
            captured_at=frame.captured_at,
            width=w,
            height=h,
            model=model,
            boxes=boxes,
            detected_at=detected_at,
        )


class TrackObservation(Event):
    """Base of events about one single-camera track at one moment."""

    camera_id: CameraId
    track_id: int = Field(ge=0, description="single-camera tracker id")
    captured_at: Seconds

    @property
    def tracklet_id(self) -> str:
        return tracklet_id(self.camera_id, self.track_id)


class Crop(TrackObservation):
    """The best view of one tracked object in about a second of video."""

    kind: ClassVar[str] = "crop"
    box: Box
    quality: Score
    jpeg: bytes = Field(min_length=4, repr=False)
    frame_width: int | None = Field(None, gt=0, description="width of the frame cut from")
    frame_height: int | None = Field(None, gt=0, description="height of the frame cut from")

    @property
    def frame_size(self) -> tuple[int, int] | None:
        if self.frame_width is None or self.frame_height is None:
            return None
        return self.frame_width, self.frame_height


class Appearance(TrackObservation):
    """A re-identification embedding of one crop."""

    kind: ClassVar[str] = "appearance"
    cls: ObjectClass
    quality: Score
    model: str
    embedding: tuple[float, ...] = Field(min_length=8, max_length=2048)
    colour: VehicleColour | None = Field(None, description="most likely colour; vehicles only")
    colour_conf: Score | None = None
    vehicle_type: VehicleType | None = Field(
        None, description="most likely body type; vehicles other than motorcycles only"
    )
    vehicle_type_conf: Score | None = None

    @model_validator(mode="after")
    def _vehicle_fields(self) -> Appearance:
        if self.cls in ("person", "bicycle") and (self.colour or self.vehicle_type):
            raise ValueError("colour and vehicle type describe vehicles, never people")
        return self


class PlateRead(TrackObservation):
    """A licence plate read on a tracked vehicle."""

    kind: ClassVar[str] = "plate_read"
    text: str = Field(pattern=r"^[A-Z0-9]{1,12}$", description="normalised plate text")
    conf: Score
    char_conf: tuple[float, ...] = ()


class PlateSighting(Event):
    """A plate seen, as traffic analytics may know it: which camera, when, which class,
    and a pseudonym of the plate that only means something for one UTC day.

    ``pseudonym`` is HMAC-SHA256 of the plate under a random key of the day that lives
    only in the plates service's memory (``civicsight.pseudonyms``), cut to 64 bits. There
    is no plate text and no tracker id: a sighting cannot be joined to a track, a plate
    read or a crop, and once the day's key is gone not even to a plate. Two sightings
    with one pseudonym are one vehicle on one day: what journey times need, no more.
    """

    kind: ClassVar[str] = "plate_sighting"
    camera_id: CameraId
    captured_at: Seconds
    cls: ObjectClass = Field(description="the vehicle's class in the crop that was read")
    pseudonym: str = Field(pattern=r"^[0-9a-f]{16}$", description="64-bit keyed hash, hex")
    key_day: date = Field(description="the UTC day whose key made the pseudonym")


class FaceObservation(TrackObservation):
    """A watchlist match on a face-enabled camera. Faces that match nothing never exist."""

    kind: ClassVar[str] = "face_observation"
    watchlist_id: str = Field(min_length=1, max_length=64)
    entry_id: str = Field(min_length=1, max_length=64)
    score: Score
    threshold: Score


class RuleHit(TrackObservation):
    """A tracklet crossed a counting line, or entered or left a zone, of its camera.

    The stream app evaluates the camera file's rules on the bottom-centre of each box
    (``streams.rules``). A hit says which rule, which way, when and which class: enough
    for counts per rule, direction and class, for zone occupancy and dwell, and, ordered
    by ``seq``, for the lines one tracklet crossed in turn (turning movements). It never
    says who: no plate, face, appearance or position beyond the rule itself.

    ``(camera_id, track_id, seq)`` identifies a hit: a hit sent again after a restart
    repeats it, so consumers drop the repeat.
    """

    kind: ClassVar[str] = "rule_hit"
    rule_id: RuleId
    rule_kind: Literal["line", "zone"]
    action: Literal["cross", "enter", "leave"] = Field(
        description="line: cross; zone: enter or leave"
    )
    direction: DirectionName | None = Field(
        None, description="line crossings only: the direction's name in the camera file"
    )
    cls: ObjectClass = Field(description="the tracklet's majority class")
    seq: int = Field(
        ge=1,
        description="increases along the tracklet in capture-time order (not always by "
        "one: a crossing taken back before it cleared the line uses a number up)",
    )
    dwell_s: float | None = Field(
        None, ge=0, description="zone leaves only: seconds between entering and leaving"
    )
    ended: bool = Field(
        False,
        description="a leave sent because the tracklet ended inside the zone (lost, "
        "occluded or left the view there) rather than seen leaving",
    )

    @model_validator(mode="after")
    def _shape(self) -> RuleHit:
        if (self.rule_kind == "line") != (self.action == "cross"):
            raise ValueError("lines are crossed; zones are entered and left")
        if (self.action == "cross") != (self.direction is not None):
            raise ValueError("a crossing, and only a crossing, names its direction")
        if (self.action == "leave") != (self.dwell_s is not None):
            raise ValueError("a leave, and only a leave, carries dwell_s")
        if self.ended and self.action != "leave":
            raise ValueError("only a leave can be sent because the tracklet ended")
        return self


class TrackletRef(BaseModel):
    """One single-camera tracklet that belongs to a global track."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    camera_id: CameraId
    track_id: int = Field(ge=0)
    first_seen: Seconds
    last_seen: Seconds


class TrackUpdate(Event):
    """A version of a global (possibly cross-camera) track."""

    kind: ClassVar[str] = "track_update"
    track_id: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)
    cls: ObjectClass
    tracklets: tuple[TrackletRef, ...] = Field(min_length=1)
    first_seen: Seconds
    last_seen: Seconds
    closed: bool = False
    path: tuple[tuple[float, float], ...] = Field(
        (), max_length=64, description="normalised (0-1) box centres, first camera"
    )
    best_crop_jpeg: bytes | None = Field(None, repr=False)
    emitted_at: Seconds
    merged_into: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="set on the last version of a global track whose tracklets now belong "
        "to this other track",
    )

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(sorted({t.camera_id for t in self.tracklets}))

    @model_validator(mode="after")
    def _times(self) -> TrackUpdate:
        if self.last_seen < self.first_seen:
            raise ValueError("last_seen before first_seen")
        return self


class Heartbeat(Event):
    """A service process saying it is alive, what it has done and how far behind it is.

    Every process of the hub sends one every few seconds (``civicsight.heartbeat``); the
    API shows the newest of each as service health. Nothing about any camera's content:
    counts and lags only."""

    kind: ClassVar[str] = "heartbeat"
    service: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="detect, plates, ...")
    instance: str = Field(min_length=1, max_length=80, description="which process: host and pid")
    at: Seconds = Field(description="when this heartbeat was sent")
    started_at: Seconds = Field(description="when the process started")
    processed: int = Field(ge=0, description="events handled since the process started")
    lag: dict[str, int] = Field(
        default_factory=dict,
        description="messages waiting per input topic (its consumer group's share)",
    )
    interval_s: float = Field(gt=0, le=3600, description="seconds until the next heartbeat")


class TrackletClosed(TrackObservation):
    """A single-camera tracklet ended (``captured_at`` is its last detection): the stream
    app's input to the cross-camera join."""

    kind: ClassVar[str] = "tracklet_closed"
    first_seen: Seconds
    cls: ObjectClass
    detections: int = Field(ge=1)

    @model_validator(mode="after")
    def _times(self) -> TrackletClosed:
        if self.captured_at < self.first_seen:
            raise ValueError("captured_at (last seen) before first_seen")
        return self


class PartitionClock(Event):
    """Every frame of ``detections`` partition ``partition`` (of ``partitions``) captured up
    to ``captured_at`` has been processed, and every tracklet they show to have ended has
    been sent on as ``TrackletClosed``."""

    kind: ClassVar[str] = "partition_clock"
    partition: int = Field(ge=0)
    partitions: int = Field(ge=1)
    captured_at: Seconds

    @model_validator(mode="after")
    def _in_range(self) -> PartitionClock:
        if self.partition >= self.partitions:
            raise ValueError("partition out of range")
        return self


class TrackCorrection(Event):
    """An operator's decision about global tracks; automatic joins never undo it.

    ``merge``: ``track_id`` and ``other_track_id`` are one object. ``split``: the listed
    ``tracklets`` (``camera/id``) of ``track_id`` are another object than the rest.
    """

    kind: ClassVar[str] = "track_correction"
    action: Literal["merge", "split"]
    track_id: str = Field(min_length=1, max_length=64)
    other_track_id: str | None = Field(None, min_length=1, max_length=64)
    tracklets: tuple[str, ...] = ()
    user: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=1, max_length=1000)
    decided_at: Seconds

    @model_validator(mode="after")
    def _shape(self) -> TrackCorrection:
        if self.action == "merge" and not self.other_track_id:
            raise ValueError("merge needs other_track_id")
        if self.action == "split" and not self.tracklets:
            raise ValueError("split needs the tracklets to split off")
        return self


JoinKind = Literal[
    "appearance", "plate_read", "tracklet_closed", "partition_clock", "track_correction"
]


class JoinItem(BaseModel):
    """One input of the cross-camera join: an event of the kind named."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: JoinKind
    event: dict[str, Any]


class JoinBatch(Event):
    """Inputs of the cross-camera join, in order, as one message of the stream app's
    internal join topic (one message per batch keeps the topic light)."""

    kind: ClassVar[str] = "join_batch"
    items: tuple[JoinItem, ...] = Field(min_length=1)

    @staticmethod
    def encode(items: Sequence[tuple[str, bytes]]) -> bytes:
        """Build the message from (kind, event JSON) pairs without decoding the events."""
        parts = [b'{"kind":"%s","event":%s}' % (kind.encode(), raw) for kind, raw in items]
        return b'{"schema_version":1,"items":[' + b",".join(parts) + b"]}"

    def events(self) -> list[Event]:
        """The items as validated events; an invalid one raises ``DecodeError``."""
        out: list[Event] = []
        for item in self.items:
            cls = JOIN_KINDS[item.kind]
            try:
                out.append(cls.model_validate(item.event))
            except ValueError as err:
                raise DecodeError(f"{cls.__name__}: {err}") from err
        return out


TrafficKind = Literal["cameras", "counts", "zones", "turns", "speeds"]


class TrafficItem(BaseModel):
    """One traffic row of a ``TrafficBins`` message: its kind (the store table it goes to)
    and its fields (``civicsight.traffic``: ``CameraBin``, ``CountBin``, ``ZoneBin``,
    ``TurnBin``, ``SpeedBin``), checked by that row's model."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: TrafficKind
    row: dict[str, Any]


class TrafficBins(Event):
    """The stream app's traffic numbers of one camera for the bins that changed: counts per
    line, direction and class, zone entries, exits, occupancy and dwell, turning movements,
    speed distributions, and whether the camera worked. Aggregates only: no row names a
    track, a plate or a person. The indexer writes each row over the stored row of the
    same key (``civicsight.traffic.row_key``), so a bin sent again as it fills, or
    recounted, replaces what was there. Every row is checked by its model when the message
    is built or received, so an unknown field (``race``) is refused inside a row too."""

    kind: ClassVar[str] = "traffic_bins"
    camera_id: CameraId
    emitted_at: Seconds
    items: tuple[TrafficItem, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _rows(self) -> TrafficBins:
        for row in self.rows():
            if getattr(row, "camera", None) != self.camera_id:
                raise ValueError(
                    f"a row of camera {getattr(row, 'camera', None)!r} in "
                    f"{self.camera_id!r}'s message"
                )
        return self

    def rows(self) -> list[StreamRow]:
        """The rows as ``civicsight.traffic`` models (``ValueError`` if one is invalid)."""
        from civicsight.traffic import ROW_TYPES  # the rows' module imports this one

        return [
            cast("StreamRow", ROW_TYPES[item.kind].model_validate(item.row)) for item in self.items
        ]

    @classmethod
    def of(cls, camera_id: str, rows: Sequence[StreamRow], emitted_at: float) -> TrafficBins:
        """The message for ``rows`` (``civicsight.traffic`` rows of one camera)."""
        from civicsight.traffic import row_kind

        items = tuple(TrafficItem(kind=row_kind(r), row=r.model_dump(mode="json")) for r in rows)
        return cls(camera_id=camera_id, emitted_at=emitted_at, items=items)


def tracklet_id(camera_id: str, track_id: int) -> str:
    return f"{camera_id}/{track_id}"


JOINED_TRACK_PREFIX = "g-"
"""Ids of the cross-camera join's tracks start with this (``g-<hash of the founding
tracklet>``); the per-tracklet tracks of the tracklet stage start with ``t-``."""


def global_track_id(camera_id: str, track_id: int) -> str:
    """Deterministic id, so a replayed tracklet maps to the same track. Tracker ids are
    unique per camera across detect-service restarts (see services.detect.logic)."""
    digest = hashlib.sha1(f"{camera_id}|{track_id}".encode()).hexdigest()
    return f"t-{digest[:16]}"


EVENT_TYPES: tuple[type[Event], ...] = (
    Frame,
    FrameDetections,
    Crop,
    Appearance,
    PlateRead,
    PlateSighting,
    FaceObservation,
    TrackUpdate,
    TrackCorrection,
    RuleHit,
    Heartbeat,
    TrafficBins,
)
"""Event types of the hub's public topics (see civicsight.topics)."""

INTERNAL_EVENT_TYPES: tuple[type[Event], ...] = (
    TrackletClosed,
    PartitionClock,
    JoinBatch,
)
"""Event types of the stream app's internal topics."""

JOIN_KINDS: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (Appearance, PlateRead, TrackletClosed, PartitionClock, TrackCorrection)
}
"""What a ``JoinItem`` may carry, by kind."""
