"""The published traffic tables (``civicsight.traffic_tables``): thresholds, zeros from
the camera files, camera-down bins, filters applied after protection, the values beside
the counts (percentiles, occupancy), and the JSON and CSV forms."""

from __future__ import annotations

import csv
import io
import time

import pytest

from civicsight.cameras import CameraConfig, CountingLine, Rules, Zone
from civicsight.disclosure import Window
from civicsight.traffic import (
    BIN_S,
    CameraBin,
    CountBin,
    JourneyBin,
    OdBin,
    SpeedBin,
    TrafficRow,
    ZoneBin,
)
from civicsight.traffic_tables import (
    CLASSES,
    COLUMNS,
    TABLES,
    Thresholds,
    TrafficRows,
    build,
    publish,
    to_csv,
    to_json,
)
from tests.support import RowsSource
from tests.traffic_data import cameras as demo_cameras
from tests.traffic_data import demo_day

DAY = (time.time() // 86_400 - 2) * 86_400
B0, B1 = DAY, DAY + BIN_S
GATE = CameraConfig(
    id="gate",
    name="Depot gate",
    source="media:car-detection.mp4",
    rules=Rules(
        lines=(CountingLine(id="bar", name="Barrier", points=((0.1, 0.5), (0.9, 0.5)),
                            to_right="in", to_left="out"),),
        zones=(Zone(id="yard", name="Yard", polygon=((0.1, 0.1), (0.4, 0.1), (0.4, 0.4))),),
    ),
)  # fmt: skip


def tables(rows: list[TrafficRow], bins: int = 1, **kw: int) -> dict:
    window = Window(B0, B0 + bins * BIN_S, BIN_S)
    return build(_rows(rows), [GATE], window, Thresholds(**kw))


def _rows(rows: list[TrafficRow]) -> TrafficRows:
    kinds = {"camera_bins": CameraBin, "counts": CountBin, "speeds": SpeedBin, "zones": ZoneBin,
             "od": OdBin, "journeys": JourneyBin}  # fmt: skip
    return TrafficRows(**{k: [r for r in rows if type(r) is t] for k, t in kinds.items()})


@pytest.mark.parametrize(
    ("k", "flow_k", "ok"),
    [(5, 10, True), (7, 12, True), (4, 10, False), (5, 9, False), (0, 0, False)],
)
def test_thresholds_may_be_raised_never_lowered(k: int, flow_k: int, ok: bool) -> None:
    """Guards a setting that publishes counts of 1 to 4 (or OD flows under 10)."""
    if ok:
        assert Thresholds(k, flow_k).of("counts") == k and Thresholds(k, flow_k).of("od") == flow_k
    else:
        with pytest.raises(ValueError, match="never lowered"):
            Thresholds(k, flow_k)


def test_a_working_camera_has_zeros_and_a_down_one_nulls() -> None:
    """Guards a bin in which nothing crossed published as missing (a reader cannot tell
    a quiet road from a dead camera) and a dead camera's bin published as zeros."""
    rows: list[TrafficRow] = [CameraBin(camera="gate", bin_start=B0, up=True)]  # B1: no row
    counts = tables(rows, bins=2)["counts"].rows
    cells = [r for r in counts if r["camera"] == "gate"]
    assert len(cells) == 2 * 2 * (len(CLASSES) + 1)  # two bins, in and out, classes + all
    first = [r for r in cells if r["bin_start"] == B0]
    assert {(r["direction"], r["count"], r["status"]) for r in first} == {
        ("in", 0, "ok"),
        ("out", 0, "ok"),
    }
    second = [r for r in cells if r["bin_start"] == B1]
    assert {(r["count"], r["status"]) for r in second} == {(None, "camera_down")}
    zones = tables(rows, bins=2)["zones"].rows
    yard = [
        r for r in zones if r["zone"] == "yard" and r["bin_start"] == B0 and r["class"] == "car"
    ]
    assert yard == [{"camera": "gate", "zone": "yard", "class": "car", "bin_start": B0,
                     "bin_minutes": 15, "entries": 0, "exits": 0, "occupancy_mean": 0.0,
                     "occupancy_max": 0, "dwell_p50_s": None, "dwell_p90_s": None,
                     "status": "ok"}]  # fmt: skip


def test_small_counts_are_null_and_the_margins_true_sums() -> None:
    """Guards a small count published, or margins that leave it out."""
    rows: list[TrafficRow] = [
        CameraBin(camera="gate", bin_start=B0, up=True),
        CountBin(camera="gate", rule="bar", direction="in", cls="car", bin_start=B0, count=3),
        CountBin(camera="gate", rule="bar", direction="in", cls="truck", bin_start=B0, count=40),
        CountBin(camera="gate", rule="bar", direction="out", cls="car", bin_start=B0, count=12),
        CountBin(camera="gate", rule="bar", direction="out", cls="truck", bin_start=B0, count=9),
    ]
    table = tables(rows)["counts"]
    got = {(r["direction"], r["class"]): (r["count"], r["status"]) for r in table.rows}
    assert got[("in", "car")] == (None, "suppressed")
    assert got[("in", "truck")] == (None, "suppressed")  # the complement in row "in"
    assert got[("out", "car")] == (None, "suppressed") and got[("out", "truck")] == (
        None,
        "suppressed",
    )
    assert got[("in", "*")] == (43, "ok") and got[("out", "*")] == (21, "ok")
    assert got[("*", "car")] == (15, "ok") and got[("*", "*")] == (64, "ok")
    assert table.suppressed == 4 and table.k == 5


def test_filters_pick_rows_out_of_the_protected_bin() -> None:
    """Guards protection that depends on what was asked: the store is asked for whole
    bins with no filter, and a filtered answer is exactly the matching rows of the
    unfiltered one."""
    day = demo_day(DAY)
    source = RowsSource(day)
    window = Window(DAY, DAY + 86_400, BIN_S)
    everything = publish(source, demo_cameras(), window, Thresholds())
    assert {(q.camera, q.cls) for q in source.queries} == {(None, None)}
    for name in TABLES:
        table = everything[name]
        for camera, cls in [("junction", None), (None, "car"), ("street", "bus"), ("plaza", None)]:
            picked = table.select(camera, cls).rows
            flows = name in ("od", "journeys")
            assert picked == tuple(
                r for r in table.rows
                if (camera is None or camera in ((r["origin"], r["destination"]) if flows
                                                 else (r["camera"],)))
                and (cls is None or r["class"] == cls)
            )  # fmt: skip


def test_a_table_reads_the_same_whichever_tables_are_asked_for() -> None:
    """Guards protection that depends on the route: counts are protected together with
    turning and speeds (and OD with journeys), so asking for counts alone must read
    the speed rows too (it once did not, and a speed count gave a crossing away)."""
    source = RowsSource(demo_day(DAY))
    window = Window(DAY, DAY + 6 * 3600, BIN_S)
    together = publish(source, demo_cameras(), window, Thresholds())
    for name in TABLES:
        alone = publish(source, demo_cameras(), window, Thresholds(), (name,))
        assert alone[name].rows == together[name].rows, name


def test_a_bin_reads_the_same_in_every_window() -> None:
    """Guards differencing two windows: a bin's rows do not depend on the window they
    were asked in (zero rows aside, which only appear for keys seen in the window)."""
    source = RowsSource(demo_day(DAY))
    day = publish(source, demo_cameras(), Window(DAY, DAY + 86_400, BIN_S), Thresholds())
    bin8 = DAY + 32 * BIN_S  # 08:00, the morning peak
    one = publish(source, demo_cameras(), Window(bin8, bin8 + BIN_S, BIN_S), Thresholds())
    for name in TABLES:
        nonzero = [r for r in one[name].rows if r.get("count", r.get("entries")) != 0]
        assert nonzero and all(r in day[name].rows for r in nonzero), name


def test_speeds_and_journeys_publish_percentiles_from_k_values() -> None:
    """Guards a percentile of one vehicle's speed or one trip's duration (it is that
    vehicle's), and a count beside it that the crossings or the OD cell give away."""
    rows: list[TrafficRow] = [
        CameraBin(camera="gate", bin_start=B0, up=True),
        CameraBin(camera="yard", bin_start=B0, up=True),
        CountBin(camera="gate", rule="bar", direction="in", cls="car", bin_start=B0, count=3),
        CountBin(camera="gate", rule="bar", direction="out", cls="car", bin_start=B0, count=30),
        CountBin(camera="gate", rule="bar", direction="in", cls="bus", bin_start=B0, count=1),
        SpeedBin(camera="gate", rule="bar", cls="car", bin_start=B0, count=33, p15_kmh=20.04,
                 p50_kmh=30.0, p85_kmh=38.0),
        SpeedBin(camera="gate", rule="bar", cls="bus", bin_start=B0, count=1, p15_kmh=20.0,
                 p50_kmh=20.0, p85_kmh=20.0),
        OdBin(origin="gate", destination="yard", cls="car", bin_start=B0, count=7),
        JourneyBin(origin="gate", destination="yard", cls="car", bin_start=B0, count=7,
                   p50_s=80.0, p85_s=90.0),
        JourneyBin(origin="gate", destination="yard", cls="car", source="plates", bin_start=B0,
                   count=12, p50_s=81.0, p85_s=95.0),
    ]  # fmt: skip
    out = tables(rows)
    speeds = {r["class"]: r for r in out["speeds"].rows}
    assert speeds["bus"]["p50_kmh"] is None and speeds["bus"]["count"] is None
    assert speeds["car"]["p15_kmh"] == 20.0 and speeds["car"]["p85_kmh"] == 38.0
    assert speeds["car"]["count"] in (33, None)
    journeys = {(r["source"], r["class"]): r for r in out["journeys"].rows}
    assert journeys[("tracks", "car")]["count"] is None  # 7 < 10
    assert journeys[("tracks", "car")]["p50_s"] is None
    assert (
        journeys[("plates", "car")]["count"] == 12 and journeys[("plates", "car")]["p50_s"] == 81.0
    )
    od = {(r["origin"], r["destination"], r["class"]): r for r in out["od"].rows}
    assert od[("gate", "yard", "car")]["count"] is None


@pytest.mark.parametrize(
    ("peak", "left", "expected"),
    [
        (0, 0, (0.0, 0, None, "ok")),
        (3, 0, (None, None, None, "suppressed")),  # three people: small
        (6, 2, (1.5, 6, None, "suppressed")),  # two dwell times: small
        (6, 8, (1.5, 6, 41.0, "ok")),
    ],
)
def test_zone_occupancy_and_dwell(peak: int, left: int, expected: tuple) -> None:
    """Guards the occupancy of a zone holding one person, or one person's dwell time,
    published beside suppressed entries."""
    rows: list[TrafficRow] = [
        CameraBin(camera="gate", bin_start=B0, up=True),
        ZoneBin(camera="gate", zone="yard", cls="person", bin_start=B0, entries=20, exits=20,
                occupancy_mean=1.5, occupancy_max=peak, dwell_count=left,
                dwell_p50_s=41.0 if left else None, dwell_p90_s=60.0 if left else None),
    ]  # fmt: skip
    (row,) = [
        r for r in tables(rows)["zones"].rows if r["class"] == "person" and r["zone"] == "yard"
    ]
    got = (row["occupancy_mean"], row["occupancy_max"], row["dwell_p50_s"], row["status"])
    assert got == expected


def test_json_and_csv_carry_the_same_rows_with_iso_times() -> None:
    """Guards the documented shapes: the JSON's keys (Grafana's dashboards read them) and
    CSV columns in the documented order, UTC ISO times, null as an empty field."""
    rows: list[TrafficRow] = [
        CameraBin(camera="gate", bin_start=B0, up=True),
        CountBin(camera="gate", rule="bar", direction="in", cls="car", bin_start=B0, count=3),
    ]
    table = tables(rows)["counts"]
    body = to_json(table)
    assert set(body) == {"columns", "rows", "k", "suppressed", "bin_minutes", "since", "until"}
    assert body["columns"] == list(COLUMNS["counts"]) and body["bin_minutes"] == 15
    assert body["since"].endswith("T00:00:00Z") and body["rows"][0]["bin_start"] == body["since"]
    parsed = list(csv.DictReader(io.StringIO(to_csv(table))))
    assert list(parsed[0]) == list(COLUMNS["counts"])
    assert [r["count"] for r in parsed] == [
        "" if r["count"] is None else str(r["count"]) for r in body["rows"]
    ]
    assert all(r["bin_start"] == body["since"] for r in parsed)
