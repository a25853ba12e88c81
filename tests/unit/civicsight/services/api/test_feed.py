"""The control room's event feed and service health: what becomes an item, who may see
it, and how a service's state follows its heartbeats."""

from __future__ import annotations

import pytest

from civicsight.auth import Principal, Role
from civicsight.events import FaceObservation, Heartbeat, RuleHit, TrackletRef, TrackUpdate
from civicsight.services.api.feed import DOWN_AFTER_S, FORGET_AFTER_S, Feed, HealthBoard


def who(role: Role) -> Principal:
    return Principal(token_id="t", role=role, label=role.value)


def update(track_id: str, version: int = 1, merged_into: str | None = None) -> TrackUpdate:
    return TrackUpdate(
        track_id=track_id,
        version=version,
        cls="car",
        tracklets=(TrackletRef(camera_id="cam-a", track_id=1, first_seen=10.0, last_seen=12.0),),
        first_seen=10.0,
        last_seen=12.0,
        emitted_at=13.0,
        merged_into=merged_into,
    )


def match(track: int = 4, score: float = 0.8) -> FaceObservation:
    return FaceObservation(
        camera_id="cam-a",
        track_id=track,
        captured_at=20.0,
        watchlist_id="missing",
        entry_id="e-7",
        score=score,
        threshold=0.5,
    )


HIT = RuleHit(
    camera_id="cam-b",
    track_id=2,
    captured_at=30.0,
    rule_id="gate",
    rule_kind="zone",
    action="leave",
    cls="person",
    seq=2,
    dwell_s=42.0,
)


@pytest.mark.parametrize(
    ("event", "kinds"),
    [
        (update("g-0001"), ["track"]),
        (update("g-0001", version=2), []),  # a revision is not a new track
        (update("t-cam-a-1"), []),  # single-camera tracklets are not global tracks
        (update("g-0001", merged_into="g-0002"), []),
        (HIT, ["rule_hit"]),
        (match(), ["alert"]),
    ],
)
def test_what_becomes_a_feed_item(event: object, kinds: list[str]) -> None:
    feed = Feed()
    feed.offer(event)  # type: ignore[arg-type]
    assert [i.type for i in feed.items.after(0).items] == kinds


def test_an_alert_is_announced_once_per_track_and_entry() -> None:
    """Guards a feed flooded by every frame of a matched face."""
    feed = Feed()
    for score in (0.6, 0.7, 0.9):
        feed.offer(match(track=4, score=score))
    feed.offer(match(track=5))
    assert len(feed.items.after(0).items) == 2


@pytest.mark.parametrize(
    ("role", "types", "track_ids"),
    [
        (Role.VIEWER, ["track", "rule_hit"], [None]),
        (Role.OPERATOR, ["track", "rule_hit", "alert"], [None]),
        (Role.INVESTIGATOR, ["track", "rule_hit", "alert"], ["g-0001"]),
        (Role.ADMIN, ["track", "rule_hit"], [None]),
        (Role.AUDITOR, [], []),
        (Role.TRAFFIC_ANALYST, [], []),
    ],
)
def test_each_role_sees_only_what_it_may(
    role: Role, types: list[str], track_ids: list[str | None]
) -> None:
    """Guards a wall screen showing watchlist matches, or track ids to roles that cannot
    search, or anything to roles without live tiles."""
    feed = Feed()
    for event in (update("g-0001"), HIT, match()):
        feed.offer(event)
    page = feed.after(0, who(role))
    assert [i.type for i in page.items] == types
    assert [i.track_id for i in page.items if i.type == "track"] == track_ids
    assert all("e-7" not in i.model_dump_json() for i in page.items)  # never the entry


def beat(service: str, instance: str, at: float, lag: dict[str, int] | None = None) -> Heartbeat:
    return Heartbeat(
        service=service,
        instance=instance,
        at=at,
        started_at=0.0,
        processed=10,
        lag=lag or {},
        interval_s=5.0,
    )


@pytest.mark.parametrize(
    ("age", "state"),
    [(0.0, "ok"), (15.0, "ok"), (15.1, "late"), (DOWN_AFTER_S - 1, "late"), (DOWN_AFTER_S, "down")],
)
def test_service_state_follows_its_newest_heartbeat(age: float, state: str) -> None:
    board = HealthBoard()
    board.offer(beat("detect", "a:1", 100.0))
    (health,) = board.services(100.0 + age)
    assert health.state == state and health.age_s == round(age, 1)


def test_instances_add_up_and_silent_ones_are_forgotten() -> None:
    board = HealthBoard()
    board.offer(beat("reid", "a:1", 100.0, {"crops": 3}))
    board.offer(beat("reid", "b:2", 101.0, {"crops": 4}))
    board.offer(beat("reid", "b:2", 90.0, {"crops": 99}))  # an older beat arriving late
    (health,) = board.services(102.0)
    assert (health.instances, health.lag, health.processed) == (2, {"crops": 7}, 20)
    assert board.services(101.0 + FORGET_AFTER_S + 1) == []
