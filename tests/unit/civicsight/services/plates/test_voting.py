"""Per-tracklet voting: which reads become PlateRead events, with what confidence."""

from __future__ import annotations

import pytest

from civicsight.events import PlateRead
from civicsight.services.plates.logic import PlateText
from civicsight.services.plates.voting import TrackletVotes


def read(text: str, conf: float) -> PlateText:
    return PlateText(text, conf, tuple(conf for _ in text))


@pytest.mark.parametrize(
    ("reads", "emitted"),
    [
        # one read: published as it is
        ([("RK857AI", 0.9)], ["RK857AI"]),
        # the same text again: firmer (1 - 0.1 * 0.1 = 0.99), published again
        ([("RK857AI", 0.9), ("RK857AI", 0.9)], ["RK857AI", "RK857AI"]),
        # a tiny rise in confidence is not news
        ([("RK857AI", 0.99), ("RK857AI", 0.01)], ["RK857AI"]),
        # a weaker misread does not flip the vote, and lowers confidence: nothing new
        ([("RK857AI", 0.9), ("RK857A1", 0.5)], ["RK857AI"]),
        # a text that gathers more weight takes over
        ([("RK857A1", 0.9), ("RK857AI", 0.6), ("RK857AI", 0.6)], ["RK857A1", "RK857AI"]),
    ],
    ids=["single", "agreeing", "small-gain", "outvoted-misread", "takeover"],
)
def test_events_only_when_the_vote_changes_or_firms(
    reads: list[tuple[str, float]], emitted: list[str]
) -> None:
    """Guards against flooding plate_reads with one event per crop, and against a
    single misread replacing a well-supported plate."""
    votes = TrackletVotes(min_gain=0.05)
    out: list[PlateRead] = []
    for i, (text, conf) in enumerate(reads):
        event = votes.add("cam-a", 7, 100.0 + i, read(text, conf))
        if event is not None:
            out.append(event)
    assert [e.text for e in out] == emitted
    assert all(e.camera_id == "cam-a" and e.track_id == 7 for e in out)
    assert all(len(e.char_conf) == len(e.text) for e in out)


@pytest.mark.parametrize(
    ("reads", "conf"),
    [
        ([("AB123", 0.8)], 0.8),
        ([("AB123", 0.8), ("AB123", 0.8)], 0.96),  # 1 - 0.2 * 0.2
        ([("AB123", 0.8), ("AB128", 0.2)], 0.64),  # 0.8 * share 0.8
    ],
)
def test_voted_confidence(reads: list[tuple[str, float]], conf: float) -> None:
    """Guards against a vote that ignores agreement (or disagreement) between reads."""
    votes = TrackletVotes()
    for text, c in reads:
        votes.add("cam", 1, 1.0, read(text, c))
    vote = votes.vote("cam", 1)
    assert vote is not None
    assert vote.text == "AB123"
    assert vote.conf == pytest.approx(conf, abs=1e-3)


def test_tracklets_vote_separately_and_expire_by_capture_time() -> None:
    """Guards against plates leaking between tracks or cameras, and unbounded state."""
    votes = TrackletVotes(keep_s=10.0)
    assert votes.add("cam-a", 1, 0.0, read("AAA111", 0.9)) is not None
    assert votes.add("cam-a", 2, 0.0, read("BBB222", 0.9)) is not None
    assert votes.add("cam-b", 1, 0.0, read("CCC333", 0.9)) is not None
    assert [v.text if v else None for v in (votes.vote("cam-a", 1), votes.vote("cam-b", 1))] == [
        "AAA111",
        "CCC333",
    ]
    votes.add("cam-a", 2, 9.0, read("BBB222", 0.9))
    assert votes.expire("cam-a", 15.0) == 1  # track 1 quiet since 0 s; track 2 read at 9 s
    assert votes.vote("cam-a", 1) is None and votes.vote("cam-a", 2) is not None
    assert votes.vote("cam-b", 1) is not None  # another camera's clock
    assert len(votes) == 2


def test_a_forgotten_tracklet_starts_over() -> None:
    """Guards against suppressing the first read of a track id seen again after expiry."""
    votes = TrackletVotes(keep_s=1.0)
    votes.add("cam", 1, 0.0, read("AB123", 0.9))
    votes.expire("cam", 5.0)
    assert votes.add("cam", 1, 6.0, read("AB123", 0.9)) is not None


@pytest.mark.parametrize(
    "bad",
    [PlateText("AB1", 1.5, (1.0, 1.0, 1.0)), PlateText("AB1", 0.5, (0.5,))],
    ids=["conf-over-1", "char-conf-count"],
)
def test_bad_reads_are_refused(bad: PlateText) -> None:
    """Guards against a broken read turning into an invalid event later."""
    with pytest.raises(ValueError, match="bad plate read"):
        TrackletVotes().add("cam", 1, 0.0, bad)


def test_texts_per_tracklet_are_bounded() -> None:
    """Guards against a noisy tracklet growing its tally without limit."""
    votes = TrackletVotes(max_texts=3)
    for i in range(10):
        votes.add("cam", 1, float(i), read(f"AB{i}", 0.3 + i / 100))
    assert len(votes._state[("cam", 1)].tallies) == 3
