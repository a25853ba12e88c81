"""One batch of track updates, plate reads, appearances and traffic bins into the
store, and plate sightings into journey bins.

Items the store refuses (Elasticsearch: a mapping error, say) are dead-lettered with the
store's reason; items refused as "too busy" (429) are retried inside the store. Writes are
idempotent, so a redelivered batch never duplicates or regresses anything: traffic rows
replace the stored row of their key, in the order the stream app sent them.

Plate sightings are matched in this process's memory (``civicsight.plate_journeys``:
why the indexer and not the stream app there); only the journey times reach the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from civicsight.bus import Received
from civicsight.events import (
    JOINED_TRACK_PREFIX,
    Appearance,
    PlateRead,
    PlateSighting,
    TrackUpdate,
    TrafficBins,
)
from civicsight.plate_journeys import JourneyPartSink, PlateJourneys
from civicsight.store import TrackStore
from civicsight.store.traffic_es import TrafficWriteError


def index_batch(
    store: TrackStore,
    batch: list[Received],
    dead_letter: Callable[[Received, str], None],
    now: float,
) -> int:
    """Write one batch; dead-letter what the store refused. Returns how many track
    versions, plate reads and appearances were new."""
    for r in batch:
        if isinstance(r.event, TrafficBins):
            try:
                store.write_traffic(r.event.rows(), now)
            except TrafficWriteError as err:
                dead_letter(r, f"store refused: {err}")
    items = [r for r in batch if isinstance(r.event, TrackUpdate | PlateRead | Appearance)]
    if not items:  # Elasticsearch refuses an empty bulk
        return 0
    result = store.write([r.event for r in items], now)  # type: ignore[misc]
    for pos, reason in result.failed:
        dead_letter(items[pos], f"store refused: {reason}")
    return result.applied


def live(update: TrackUpdate) -> bool:
    """Whether a track version says what a camera sees now: a version the tracklet stage
    sent for a new frame. A version that closes a track (after its timeout) or comes from
    the cross-camera join (a ``g-`` track, decided after a settle window by design) is
    not a measure of how fast the hub follows what it sees."""
    return not update.closed and not update.track_id.startswith(JOINED_TRACK_PREFIX)


def capture_ages(batch: list[Received], refused: Iterable[Received], now: float) -> list[float]:
    """Seconds from the capture of each stored live track version's last observation
    (``last_seen``) to ``now``: the hub's end-to-end latency, camera to store. Versions
    the store refused, and versions that are not ``live``, are left out."""
    left_out = {id(r) for r in refused}
    return [
        max(0.0, now - r.event.last_seen)
        for r in batch
        if isinstance(r.event, TrackUpdate) and live(r.event) and id(r) not in left_out
    ]


def match_sightings(
    sink: JourneyPartSink, matcher: PlateJourneys, batch: list[Received], now: float
) -> int:
    """Match the batch's plate sightings; write the journey bins that changed (how many)."""
    seen = [r.event for r in batch if isinstance(r.event, PlateSighting)]
    parts = matcher.add(seen, now) if seen else matcher.tick(now)
    return sink.write_journey_parts(parts, now) if parts else 0
