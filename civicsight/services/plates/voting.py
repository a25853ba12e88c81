"""Voting over the plate reads of one tracklet (pure: reads in, ``PlateRead`` events out).

A tracklet is read once per crop (about once a second). Each read votes for its text
with its confidence. The voted text is the one with the most weight; its confidence is

    support * share,  support = 1 - prod(1 - conf_i) over the reads of that text,
                      share = its weight / the weight of all reads,

so agreeing reads raise it and disagreeing reads lower it. A ``PlateRead`` is emitted
when the voted text changes, or when its confidence rose by at least ``min_gain`` since
the last emitted read of the tracklet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from civicsight.events import PlateRead
from civicsight.services.plates.logic import PlateText


@dataclass
class _Tally:
    weight: float = 0.0
    miss: float = 1.0  # prod(1 - conf)
    char_miss: list[float] = field(default_factory=list)  # per character prod(1 - conf)
    count: int = 0


@dataclass
class _Tracklet:
    tallies: dict[str, _Tally] = field(default_factory=dict)
    last_seen: float = 0.0
    emitted_text: str | None = None
    emitted_conf: float = 0.0


@dataclass(frozen=True)
class Vote:
    text: str
    conf: float
    char_conf: tuple[float, ...]
    reads: int


class TrackletVotes:
    """Per (camera, track) vote state; ``expire`` forgets tracklets gone quiet."""

    def __init__(self, min_gain: float = 0.05, keep_s: float = 120.0, max_texts: int = 16) -> None:
        if not 0 <= min_gain < 1:
            raise ValueError(f"min_gain must be in [0, 1), got {min_gain}")
        if keep_s <= 0 or max_texts < 1:
            raise ValueError("keep_s must be > 0 and max_texts >= 1")
        self.min_gain = min_gain
        self.keep_s = keep_s
        self.max_texts = max_texts
        self._state: dict[tuple[str, int], _Tracklet] = {}

    def __len__(self) -> int:
        return len(self._state)

    def vote(self, camera_id: str, track_id: int) -> Vote | None:
        state = self._state.get((camera_id, track_id))
        return None if state is None else _voted(state)

    def add(
        self, camera_id: str, track_id: int, captured_at: float, read: PlateText
    ) -> PlateRead | None:
        """Count one read; the event to publish, if the tracklet's vote changed or firmed."""
        if not 0 <= read.conf <= 1 or len(read.char_conf) != len(read.text):
            raise ValueError(f"bad plate read {read!r}: conf in [0, 1], one per character")
        key = (camera_id, track_id)
        state = self._state.setdefault(key, _Tracklet())
        state.last_seen = max(state.last_seen, captured_at)
        tally = state.tallies.get(read.text)
        if tally is None:
            if len(state.tallies) >= self.max_texts:  # drop the weakest text
                weakest = min(state.tallies, key=lambda t: state.tallies[t].weight)
                del state.tallies[weakest]
            tally = state.tallies[read.text] = _Tally(char_miss=[1.0] * len(read.text))
        tally.weight += read.conf
        tally.miss *= 1.0 - read.conf
        tally.char_miss = [
            m * (1.0 - c) for m, c in zip(tally.char_miss, read.char_conf, strict=True)
        ]
        tally.count += 1
        vote = _voted(state)
        if vote is None:
            return None
        changed = vote.text != state.emitted_text
        firmer = vote.conf >= state.emitted_conf + self.min_gain
        if not (changed or firmer):
            return None
        state.emitted_text, state.emitted_conf = vote.text, vote.conf
        return PlateRead(
            camera_id=camera_id,
            track_id=track_id,
            captured_at=captured_at,
            text=vote.text,
            conf=vote.conf,
            char_conf=vote.char_conf,
        )

    def expire(self, camera_id: str, now: float) -> int:
        """Forget this camera's tracklets last read over ``keep_s`` before ``now`` (capture
        time). Returns how many were forgotten."""
        gone = [
            k
            for k, s in self._state.items()
            if k[0] == camera_id and s.last_seen < now - self.keep_s
        ]
        for k in gone:
            del self._state[k]
        return len(gone)


def _voted(state: _Tracklet) -> Vote | None:
    if not state.tallies:
        return None
    total = sum(t.weight for t in state.tallies.values())
    text, tally = max(state.tallies.items(), key=lambda kv: (kv[1].weight, kv[0]))
    if total <= 0:
        return None
    share = tally.weight / total
    conf = (1.0 - tally.miss) * share
    chars = tuple(round((1.0 - m) * share, 4) for m in tally.char_miss)
    return Vote(text, round(min(1.0, max(0.0, conf)), 4), chars, tally.count)
