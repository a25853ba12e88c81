"""One batch of track updates, plate reads, appearances and traffic bins into the store.

Items the store refuses (Elasticsearch: a mapping error, say) are dead-lettered with the
store's reason; items refused as "too busy" (429) are retried inside the store. Writes are
idempotent, so a redelivered batch never duplicates or regresses anything: traffic rows
replace the stored row of their key, in the order the stream app sent them.
"""

from __future__ import annotations

from collections.abc import Callable

from civicsight.bus import Received
from civicsight.events import Appearance, PlateRead, TrackUpdate, TrafficBins
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
    items = [r for r in batch if isinstance(r.event, TrackUpdate | PlateRead | Appearance)]
    result = store.write([r.event for r in items], now)  # type: ignore[misc]
    for pos, reason in result.failed:
        dead_letter(items[pos], f"store refused: {reason}")
    for r in batch:
        if isinstance(r.event, TrafficBins):
            try:
                store.write_traffic(r.event.rows(), now)
            except TrafficWriteError as err:
                dead_letter(r, f"store refused: {err}")
    return result.applied
