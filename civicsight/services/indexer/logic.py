"""One batch of track updates, plate reads and appearances into the track store.

Items the store refuses (Elasticsearch: a mapping error, say) are dead-lettered with the
store's reason; items refused as "too busy" (429) are retried inside the store. Writes are
idempotent, so a redelivered batch never duplicates or regresses anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from civicsight.bus import Received
from civicsight.events import Appearance, PlateRead, TrackUpdate
from civicsight.store import TrackStore


def index_batch(
    store: TrackStore,
    batch: list[Received],
    dead_letter: Callable[[Received, str], None],
    now: float,
) -> int:
    """Write one batch; dead-letter what the store refused. Returns how many were new."""
    items = [r for r in batch if isinstance(r.event, TrackUpdate | PlateRead | Appearance)]
    result = store.write([r.event for r in items], now)  # type: ignore[misc]
    for pos, reason in result.failed:
        dead_letter(items[pos], f"store refused: {reason}")
    return result.applied


def capture_ages(batch: list[Received], refused: Iterable[Received], now: float) -> list[float]:
    """Seconds from the capture of each stored track version's last observation
    (``last_seen``) to ``now``: the hub's end-to-end latency, camera to store. Versions
    the store refused are left out."""
    left_out = {id(r) for r in refused}
    return [
        max(0.0, now - r.event.last_seen)
        for r in batch
        if isinstance(r.event, TrackUpdate) and id(r) not in left_out
    ]
