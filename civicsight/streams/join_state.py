"""The join's state in a changelog-backed table: an input log the engine is rebuilt from.

The association engine is deterministic: the same inputs in the same order give the same
tracks. So instead of its many small structures the table keeps its *inputs*: every
message of the join topic (one partition; each a ``JoinBatch``), keyed by its offset.
A worker that starts, or takes the partition over, restores the table from its changelog
(Faust does this before the agent runs) and replays the log into a fresh engine; it then
carries on exactly where the last worker stopped. A message whose offset is already in
the log (redelivered after a crash) is skipped, so nothing is applied twice. Track
updates of a batch are sent before the batch is logged: after a crash in between, the
batch is redelivered and the same versions are sent again, which the indexer ignores.

The join's decisions (``Associator.decisions``) are counted for the new inputs only
(``take_decisions``), never for a replay: a rebuilt engine does not count twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass

from civicsight.events import DecodeError, JoinBatch
from civicsight.streams.association.engine import Associator, TrackChange
from civicsight.streams.join import feed

log = logging.getLogger("civicsight.streams.join")


@dataclass(frozen=True, slots=True)
class Input:
    offset: int
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
        self._decided: dict[str, int] = {}

    def reset(self) -> None:
        """Forget the in-memory engine (the partition moved): rebuilt on the next batch."""
        self.engine = None

    def _rebuild(self) -> Associator:
        engine = self._new_engine()
        self.applied = -1
        keys = sorted(self._table.keys())
        for key in keys:
            self._apply(engine, Input(int(key), self._table[key]))
        self.engine = engine
        if keys:
            log.info(
                "join state rebuilt from %d logged inputs (offset %d)", len(keys), self.applied
            )
        return engine

    def _apply(self, engine: Associator, item: Input) -> list[TrackChange]:
        self.applied = max(self.applied, item.offset)
        try:
            events = JoinBatch.from_bytes(item.raw).events()
        except DecodeError as err:
            self.skipped += 1
            log.warning("skipped join input at offset %d: %s", item.offset, str(err)[:300])
            return []
        changes: list[TrackChange] = []
        for event in events:
            try:
                changes += feed(engine, event)
            except (ValueError, KeyError) as err:
                self.skipped += 1
                log.warning("join input at offset %d refused: %s", item.offset, err)
        return changes

    def apply(self, batch: Iterable[Input]) -> tuple[list[TrackChange], Callable[[], None]]:
        """Changes caused by the batch's new inputs, and a function that logs them (call it
        once the changes are sent)."""
        engine = self.engine or self._rebuild()
        fresh = [item for item in batch if item.offset > self.applied]
        changes: list[TrackChange] = []
        before = dict(engine.decisions)
        for item in fresh:
            changes += self._apply(engine, item)
        for kind, n in engine.decisions.items():
            if n > before.get(kind, 0):
                self._decided[kind] = self._decided.get(kind, 0) + n - before.get(kind, 0)

        def commit() -> None:
            for item in fresh:
                self._table[_key(item.offset)] = item.raw

        return changes, commit

    def take_decisions(self) -> dict[str, int]:
        """The join's decisions by kind since the last call, new inputs only."""
        taken, self._decided = self._decided, {}
        return taken
