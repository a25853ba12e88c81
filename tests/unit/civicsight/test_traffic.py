"""The traffic rows' helpers (``civicsight.traffic``) and the ``TrafficBins`` event that
carries them from the stream app to the indexer."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from civicsight.events import DecodeError, TrafficBins
from civicsight.traffic import (
    CameraBin,
    CountBin,
    SpeedBin,
    TurnBin,
    ZoneBin,
    bins_up,
    row_key,
    row_kind,
)

B = 1_700_000_100.0
ROWS = [
    CameraBin(bin_start=B, camera="street", up=True),
    CountBin(bin_start=B, camera="street", rule="mid", direction="north", cls="car", count=4),
    ZoneBin(
        bin_start=B,
        camera="street",
        zone="bay",
        cls="bus",
        entries=1,
        exits=1,
        occupancy_mean=0.2,
        occupancy_max=1,
        dwell_count=1,
        dwell_p50_s=12.5,
        dwell_p90_s=12.5,
    ),
    TurnBin(bin_start=B, camera="street", entry="north", exit="east", cls="truck", count=2),
    SpeedBin(bin_start=B, camera="street", rule="mid", cls="car", count=3, p50_kmh=31.0),
]


@pytest.mark.parametrize(
    ("row", "kind", "key"),
    [
        (ROWS[0], "cameras", "street|1700000100"),
        (ROWS[1], "counts", "street|mid|north|car|1700000100"),
        (ROWS[2], "zones", "street|bay|bus|1700000100"),
        (ROWS[3], "turns", "street|north|east|truck|1700000100"),
        (ROWS[4], "speeds", "street|mid|car|1700000100"),
    ],
)
def test_every_row_has_a_kind_and_a_key(row: CountBin, kind: str, key: str) -> None:
    """Guards two rows of one key (a recount would add a row instead of replacing it) and
    a key that leaves out a field (two directions overwriting each other)."""
    assert (row_kind(row), row_key(row)) == (kind, key)
    other = row.model_copy(update={"bin_start": B + 900})
    assert row_key(other) != key


def test_bins_up_tells_null_from_zero() -> None:
    """Guards a reader filling zeros for a camera that was down."""
    rows = [
        CameraBin(bin_start=B, camera="a", up=True),
        CameraBin(bin_start=B + 900, camera="a", up=False),
        CameraBin(bin_start=B, camera="b", up=True),
    ]
    assert bins_up(rows) == {("a", B), ("b", B)}


def test_traffic_bins_round_trip_every_row_kind() -> None:
    """Guards a row kind lost or changed on its way to the indexer."""
    message = TrafficBins.of("street", ROWS, B + 950)
    back = TrafficBins.from_bytes(message.to_bytes())
    assert back.rows() == ROWS and back.camera_id == "street"


@pytest.mark.parametrize("field", ["race", "ethnicity", "skin_tone", "track_id", "plate"])
def test_a_row_with_an_unknown_field_is_refused(field: str) -> None:
    """Privacy: a row inside the message is checked by its model, so nothing but the
    row's fields (no race, no track id, no plate) can travel in it; on the wire the
    message is refused (dead-lettered)."""
    doc = json.loads(TrafficBins.of("street", ROWS[:2], B).to_bytes())
    doc["items"][1]["row"][field] = "x"
    with pytest.raises(DecodeError, match="Extra inputs are not permitted"):
        TrafficBins.from_bytes(json.dumps(doc).encode())


def test_a_row_of_another_camera_is_refused() -> None:
    """Guards one camera's message overwriting another camera's bins."""
    other = CameraBin(bin_start=B, camera="plaza", up=True)
    with pytest.raises(ValidationError, match="a row of camera 'plaza'"):
        TrafficBins.of("street", [other], B)


def test_a_row_kind_must_match_its_fields() -> None:
    """Guards a count row filed as a zone row (it would land in the wrong table)."""
    doc = json.loads(TrafficBins.of("street", ROWS[1:2], B).to_bytes())
    doc["items"][0]["kind"] = "zones"
    with pytest.raises(DecodeError):
        TrafficBins.from_bytes(json.dumps(doc).encode())
