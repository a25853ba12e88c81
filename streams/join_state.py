"""The join's state in a changelog-backed table: an input log the engine is rebuilt from.

The association engine is deterministic: the same inputs in the same order give the same
tracks. So instead of its many small structures the table keeps its *inputs*, in
batches keyed by the offset of their first message on the join topic (one partition).
A worker that starts, or takes the partition over, restores the table from its changelog
(Faust does this before the agent runs) and replays the log into a fresh engine; it then
carries on exactly where the last worker stopped. A message whose offset is already in
the log (redelivered after a crash) is skipped, so nothing is applied twice. Track
updates of a batch are sent before the batch is logged: after a crash in between, the
batch is redelivered and the same versions are sent again, which the indexer ignores.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass

from civicsight.events import (
    Appearance,
    CameraClock,
    DecodeError,
    Event,
    PlateRead,
    TrackCorrection,
    TrackletClosed,
)
from streams.association.engine import Associator, TrackChange
from streams.join import feed

log = logging.getLogger("streams.join")

KINDS: dict[str, type[Event]] = {
    cls.kind: cls for cls in (Appearance, PlateRead, TrackletClosed, CameraClock, TrackCorrection)
}
CHUNK_BYTES = 400_000
"""Most bytes of inputs in one log entry (one changelog message)."""


@dataclass(frozen=True, slots=True)
class Input:
    offset: int
    kind: str
    raw: bytes


def _key(offset: int) -> bytes:
    return b"%020d" % offset


class JoinProcessor:
    """Applies join-topic messages to an ``Associator`` and logs them in ``table``
    (a Faust table in the app, a dict in tests)."""

    def __init__(
        self, table: MutableMapping[bytes, bytes], new_engine: Callable[[], Associator]
    ) -> None:
        self._table = table
        self._new_engine = new_engine
        self.engine: Associator | None = None
        self.applied = -1
        self.skipped = 0

    def reset(self) -> None:
        """Forget the in-memory engine (the partition moved): rebuilt on the next batch."""
        self.engine = None

    def _rebuild(self) -> Associator:
        engine = self._new_engine()
        self.applied = -1
        for key in sorted(self._table.keys()):
            raw = self._table[key]
            for offset, kind, text in json.loads(raw):
                self._apply(engine, Input(int(offset), str(kind), text.encode()))
        self.engine = engine
        log.info("join state rebuilt from %d log entries (up to offset %d)", len(self._table), self.applied)
        return engine

    def _apply(self, engine: Associator, item: Input) -> list[TrackChange]:
        self.applied = max(self.applied, item.offset)
        cls = KINDS.get(item.kind)
        if cls is None:
            self.skipped += 1
            log.warning("skipped join input of unknown kind %r at %d", item.kind, item.offset)
            return []
        try:
            event = cls.from_bytes(item.raw)
            return feed(engine, event)
        except (DecodeError, ValueError, KeyError) as err:
            self.skipped += 1
            log.warning("skipped join input at %d: %s", item.offset, str(err)[:300])
            return []

    def apply(self, batch: Iterable[Input]) -> tuple[list[TrackChange], Callable[[], None]]:
        """Changes caused by the batch's new inputs, and a function that logs them (call it
        once the changes are sent)."""
        engine = self.engine or self._rebuild()
        fresh = [item for item in batch if item.offset > self.applied]
        changes: list[TrackChange] = []
        for item in fresh:
            changes += self._apply(engine, item)

        def commit() -> None:
            chunk: list[list[object]] = []
            size = 0
            for item in fresh:
                if chunk and size + len(item.raw) > CHUNK_BYTES:
                    self._write(chunk)
                    chunk, size = [], 0
                chunk.append([item.offset, item.kind, item.raw.decode()])
                size += len(item.raw) + 32
            if chunk:
                self._write(chunk)

        return changes, commit

    def _write(self, chunk: list[list[object]]) -> None:
        first = chunk[0][0]
        assert isinstance(first, int)
        self._table[_key(first)] = json.dumps(chunk, separators=(",", ":")).encode()
