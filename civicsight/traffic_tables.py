"""The published traffic tables: the store's raw rows in, protected rows out. The API
(``/api/traffic/*``), the exports and the report all call ``publish``, so they publish
the same numbers with the same protection.

Every table is protected one 15-minute bin at a time, over the whole bin (every camera,
every class), before any filter: a camera or class filter only picks rows out of the
protected bin, and a window only picks bins, so no answer depends on what was asked and
two answers never differ by anything finer than whole, protected bins. Totals over
several bins are not published; a client may sum what is published.

Within one bin (``civicsight.suppression`` explains the method):

- **counts**: one table, rows = movements (camera, line, direction), columns = classes,
  with row totals (``class = *``), column totals (``camera = rule = direction = *``) and
  the grand total;
- **turning**: per camera and class, rows = entry leg, columns = exit leg, with margins
  (``exit = *``, ``entry = *``); a leg's totals may equal that line's crossings, so the
  two are linked and protected together;
- **zones**: entries and exits each a table, rows = (camera, zone), columns = classes,
  with margins; occupancy is published when the peak reached ``k`` (or was 0), dwell
  percentiles when at least ``k`` objects left;
- **od**: per class, rows = origin camera, columns = destination camera, with margins;
- **speeds**, **journeys**: no margins; percentiles are published when at least ``k``
  values made them. The count beside them is published only when it adds nothing: a
  speed count when none of its line's crossings of that class is withheld, a journey
  count when the origin-destination cell of the same bin is not withheld (they may
  count the same vehicles).

``k`` is 5 for counts, turning, zones and speeds, 10 for origin-destination and journeys
(``Thresholds``; a hub may raise them, never lower them). A bin whose camera was up has
zeros for every movement, leg and zone its camera file names (and every one seen in the
window), in every class; a bin whose camera was down (no ``CameraBin`` saying it was up)
is ``null`` with status ``camera_down``. Margins add up the cameras that were up.

Pure but for ``read``/``publish``, which ask a ``TrafficSource`` for the rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar, get_args

from civicsight.cameras import CameraConfig
from civicsight.disclosure import Window
from civicsight.events import ObjectClass
from civicsight.suppression import TOTAL, Cell, EntryId, Key, Link, Table, protect
from civicsight.traffic import (
    BIN_MINUTES,
    CameraBin,
    CountBin,
    JourneyBin,
    OdBin,
    SpeedBin,
    TrafficQuery,
    TrafficSource,
    TurnBin,
    ZoneBin,
)

TableName = Literal["counts", "turning", "zones", "speeds", "journeys", "od"]
TABLES: tuple[TableName, ...] = get_args(TableName)
Status = Literal["ok", "suppressed", "camera_down"]
CLASSES: tuple[ObjectClass, ...] = get_args(ObjectClass)
MIN_K = 5
"""Counts, turning movements, zones and speeds: fewer than 5 is withheld."""
MIN_FLOW_K = 10
"""Origin-destination and journey times (they follow people and vehicles between places):
fewer than 10 is withheld."""

COLUMNS: dict[TableName, tuple[str, ...]] = {
    "counts": ("camera", "rule", "direction", "class", "bin_start", "bin_minutes", "count",
               "status"),
    "turning": ("camera", "entry", "exit", "class", "bin_start", "bin_minutes", "count",
                "status"),
    "zones": ("camera", "zone", "class", "bin_start", "bin_minutes", "entries", "exits",
              "occupancy_mean", "occupancy_max", "dwell_p50_s", "dwell_p90_s", "status"),
    "speeds": ("camera", "rule", "class", "bin_start", "bin_minutes", "count", "p15_kmh",
               "p50_kmh", "p85_kmh", "status"),
    "journeys": ("origin", "destination", "class", "source", "bin_start", "bin_minutes",
                 "count", "p50_s", "p85_s", "status"),
    "od": ("origin", "destination", "class", "bin_start", "bin_minutes", "count", "status"),
}  # fmt: skip
ColumnType = Literal["text", "time", "int", "float"]
COLUMN_TYPES: dict[str, ColumnType] = {
    **{c: "text" for c in ("camera", "rule", "direction", "class", "entry", "exit", "zone",
                           "origin", "destination", "source", "status")},
    "bin_start": "time",
    **{c: "int" for c in ("bin_minutes", "count", "entries", "exits", "occupancy_max")},
    **{c: "float" for c in ("occupancy_mean", "dwell_p50_s", "dwell_p90_s", "p15_kmh",
                            "p50_kmh", "p85_kmh", "p50_s", "p85_s")},
}  # fmt: skip
"""How each column is typed in Parquet (``bin_start``: UTC timestamp; text in CSV/JSON)."""

LINES: tuple[str, ...] = ("counts", "turns", "speeds")
FLOWS: tuple[str, ...] = ("od", "journeys")
READS: dict[TableName, tuple[str, ...]] = {
    "counts": LINES,
    "turning": LINES,
    "speeds": LINES,
    "zones": ("zones",),
    "od": FLOWS,
    "journeys": FLOWS,
}
"""The store rows each table needs: all the rows its bins are protected with (counts,
turning and speeds together; origin-destination and journeys together), whichever table
of them is asked for, so that each is protected the same way in every answer."""

Row = dict[str, Any]
T = TypeVar("T", str, tuple[str, str])


@dataclass(frozen=True)
class Thresholds:
    """The suppression thresholds in force: ``k`` (counts, turning, zones, speeds) and
    ``flow_k`` (origin-destination, journeys). A hub may raise them, never lower them."""

    k: int = MIN_K
    flow_k: int = MIN_FLOW_K

    def __post_init__(self) -> None:
        if self.k < MIN_K or self.flow_k < MIN_FLOW_K:
            raise ValueError(
                f"suppression thresholds may be raised, never lowered: k >= {MIN_K}, "
                f"flow k >= {MIN_FLOW_K} (got {self.k}, {self.flow_k})"
            )

    def of(self, name: TableName) -> int:
        return self.flow_k if name in ("od", "journeys") else self.k


@dataclass(frozen=True)
class TrafficRows:
    """Raw (unprotected) rows of whole bins, as a ``TrafficSource`` gives them."""

    camera_bins: Sequence[CameraBin] = ()
    counts: Sequence[CountBin] = ()
    turns: Sequence[TurnBin] = ()
    speeds: Sequence[SpeedBin] = ()
    zones: Sequence[ZoneBin] = ()
    od: Sequence[OdBin] = ()
    journeys: Sequence[JourneyBin] = ()


@dataclass(frozen=True)
class PublishedTable:
    """One protected table over a window: ``rows`` in ``COLUMNS[name]`` order
    (``bin_start`` in Unix seconds; ``null`` for withheld or unknown values)."""

    name: TableName
    k: int
    since: float
    until: float
    rows: tuple[Row, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS[self.name]

    @property
    def suppressed(self) -> int:
        """How many rows hold a withheld value (status ``suppressed``)."""
        return sum(1 for r in self.rows if r["status"] == "suppressed")

    def select(self, camera: str | None = None, cls: str | None = None) -> PublishedTable:
        """The rows of one camera (for journeys and OD: as origin or destination) and/or
        one class, picked out of the protected table (``*`` rows only unfiltered)."""
        flows = self.name in ("od", "journeys")

        def wanted(r: Row) -> bool:
            at = camera in (r["origin"], r["destination"]) if flows else r["camera"] == camera
            return (camera is None or at) and (cls is None or r["class"] == cls)

        return replace(self, rows=tuple(r for r in self.rows if wanted(r)))


def iso(t: float) -> str:
    """UTC time as ISO 8601 text, e.g. ``2026-12-02T07:15:00Z``."""
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_json(table: PublishedTable) -> dict[str, Any]:
    """The API's JSON answer (and what Grafana reads): columns, rows, k, how many rows
    hold withheld values, the bin length, and the window answered (whole bins)."""
    return {
        "columns": list(table.columns),
        "rows": [{**r, "bin_start": iso(r["bin_start"])} for r in table.rows],
        "k": table.k,
        "suppressed": table.suppressed,
        "bin_minutes": BIN_MINUTES,
        "since": iso(table.since),
        "until": iso(table.until),
    }


def to_csv(table: PublishedTable) -> str:
    """The same rows as CSV: one header line of the columns; empty for ``null``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    for r in table.rows:
        writer.writerow(
            "" if r[c] is None else iso(r[c]) if c == "bin_start" else r[c] for c in table.columns
        )
    return out.getvalue()


# ---- reading ----------------------------------------------------------------------------


def read(source: TrafficSource, window: Window, names: Collection[TableName]) -> TrafficRows:
    """The raw rows of every bin of ``window`` that ``names`` need: every camera and class,
    whatever a caller will pick out afterwards."""
    if window.empty:
        return TrafficRows()
    query = TrafficQuery(window.start, window.end)
    need = {r for n in names for r in READS[n]}
    return TrafficRows(
        camera_bins=source.camera_bins(query),
        counts=source.counts(query) if "counts" in need else (),
        turns=source.turns(query) if "turns" in need else (),
        speeds=source.speeds(query) if "speeds" in need else (),
        zones=source.zones(query) if "zones" in need else (),
        od=source.od(query) if "od" in need else (),
        journeys=source.journeys(query) if "journeys" in need else (),
    )


def publish(
    source: TrafficSource,
    cameras: Sequence[CameraConfig],
    window: Window,
    thresholds: Thresholds,
    names: Collection[TableName] = TABLES,
) -> dict[TableName, PublishedTable]:
    """The protected tables ``names`` over ``window`` (whole, settled bins: see
    ``civicsight.disclosure.published_window``): what the API and the exports publish."""
    return build(read(source, window, names), cameras, window, thresholds, names)


# ---- building ---------------------------------------------------------------------------


def _merged(first: Iterable[T], more: Iterable[T]) -> list[T]:
    """``first`` in its order, then the rest of ``more`` sorted, without repeats."""
    out = list(dict.fromkeys(first))
    seen = set(out)
    return out + sorted({m for m in more if m not in seen})


@dataclass
class _Layout:
    """What the rows of a bin are: the cameras, and per camera the movements (line,
    direction), junction legs (lines, when it has two or more) and zones that its camera
    file names, then any other seen in the window's rows; in a fixed order."""

    cameras: list[str] = field(default_factory=list)
    movements: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    legs: dict[str, list[str]] = field(default_factory=dict)
    zones: dict[str, list[str]] = field(default_factory=dict)


def _layout(cameras: Sequence[CameraConfig], rows: TrafficRows) -> _Layout:
    configured = {c.id: c for c in cameras}
    seen = {r.camera for r in rows.counts} | {r.camera for r in rows.turns}
    seen |= {r.camera for r in rows.zones} | {r.camera for r in rows.speeds}
    out = _Layout(cameras=_merged(configured, seen))
    for cam in out.cameras:
        cfg = configured.get(cam)
        lines = cfg.rules.lines if cfg else ()
        moves = [(ln.id, d) for ln in lines for d in (ln.to_right, ln.to_left)]
        out.movements[cam] = _merged(
            moves, {(r.rule, r.direction) for r in rows.counts if r.camera == cam}
        )
        legs = [ln.id for ln in lines] if len(lines) >= 2 else []
        turned = {x for r in rows.turns if r.camera == cam for x in (r.entry, r.exit)}
        out.legs[cam] = _merged(legs, turned)
        zones = [z.id for z in cfg.rules.zones] if cfg else []
        out.zones[cam] = _merged(zones, {r.zone for r in rows.zones if r.camera == cam})
    return out


class _Bin:
    """One protected table of one bin: the value and status of each of its entries."""

    def __init__(self, table: Table, withheld: frozenset[EntryId]) -> None:
        self.name = table.name
        self.entries = table.entries()
        self.withheld = withheld

    def get(self, row: Key, col: Key) -> tuple[int | None, Status]:
        if (self.name, row, col) in self.withheld:
            return None, "suppressed"
        return self.entries.get((row, col), 0), "ok"


DOWN: tuple[None, Status] = (None, "camera_down")


def _counted(keys: Mapping[str, Any], b: float, got: tuple[int | None, Status]) -> Row:
    return {**keys, "bin_start": b, "bin_minutes": BIN_MINUTES, "count": got[0], "status": got[1]}


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class _Raw:
    """The raw rows indexed by bin and key."""

    up: frozenset[tuple[str, float]]
    counts: dict[tuple[Any, ...], int]
    turns: dict[tuple[Any, ...], int]
    speeds: dict[tuple[Any, ...], SpeedBin]
    zones: dict[tuple[Any, ...], ZoneBin]
    od: dict[tuple[Any, ...], int]
    journeys: dict[tuple[Any, ...], JourneyBin]
    binned: dict[tuple[str, float], list[Any]]
    """speeds and journeys rows by (kind, bin)"""

    @classmethod
    def of(cls, rows: TrafficRows) -> _Raw:
        return cls(
            up=frozenset((r.camera, r.bin_start) for r in rows.camera_bins if r.up),
            counts={(r.bin_start, r.camera, r.rule, r.direction, r.cls): r.count
                    for r in rows.counts},
            turns={(r.bin_start, r.camera, r.entry, r.exit, r.cls): r.count for r in rows.turns},
            speeds={(r.bin_start, r.camera, r.rule, r.cls): r for r in rows.speeds},
            zones={(r.bin_start, r.camera, r.zone, r.cls): r for r in rows.zones},
            od={(r.bin_start, r.origin, r.destination, r.cls): r.count for r in rows.od},
            journeys={(r.bin_start, r.origin, r.destination, r.cls, r.source): r
                      for r in rows.journeys},
            binned=_binned(rows),
        )  # fmt: skip


def _binned(rows: TrafficRows) -> dict[tuple[str, float], list[Any]]:
    out: dict[tuple[str, float], list[Any]] = {}
    for kind, found in (("speeds", rows.speeds), ("journeys", rows.journeys)):
        for r in found:
            out.setdefault((kind, r.bin_start), []).append(r)
    return out


def _line_tables(raw: _Raw, layout: _Layout, b: float, k: int) -> tuple[list[Table], list[Link]]:
    """Bin ``b``'s counts table (first), speed counts (second) and each junction's turning
    tables, with their links: a leg's turning totals and a speed count may equal that
    line's crossings (one way, or both ways summed)."""
    live = [c for c in layout.cameras if (c, b) in raw.up]
    cells: dict[Cell, int] = {
        ((cam, rule, d), cls): raw.counts.get((b, cam, rule, d, cls), 0)
        for cam in live
        for rule, d in layout.movements[cam]
        for cls in CLASSES
    }
    measured = [sb for sb in raw.binned.get(("speeds", b), []) if sb.camera in live]
    speeds: dict[Cell, int] = {((sb.camera, sb.rule), sb.cls): sb.count for sb in measured}
    tables = [Table("counts", k, cells), Table("speeds", k, speeds, margins=False)]
    links: list[Link] = []
    for sb in measured:
        ways = tuple(
            ("counts", (sb.camera, r, d), sb.cls)
            for r, d in layout.movements[sb.camera]
            if r == sb.rule
        )
        links.append(Link(("speeds", (sb.camera, sb.rule), sb.cls), ways))
    for cam in live:
        legs = layout.legs[cam]
        if not legs:
            continue
        for cls in CLASSES:
            name = f"turning/{cam}/{cls}"
            turns: dict[Cell, int] = {
                (e, x): raw.turns.get((b, cam, e, x, cls), 0) for e in legs for x in legs
            }
            tables.append(Table(name, k, turns))
            for rule, d in layout.movements[cam]:
                if rule in legs:
                    crossing: EntryId = ("counts", (cam, rule, d), cls)
                    links += [
                        Link((name, rule, TOTAL), (crossing,)),
                        Link((name, TOTAL, rule), (crossing,)),
                    ]
    return tables, links


def _lines_family(
    raw: _Raw, layout: _Layout, window: Window, k: int, names: Collection[TableName]
) -> dict[TableName, list[Row]]:
    """Counts, turning and speeds of each bin, protected together."""
    out: dict[TableName, list[Row]] = {n: [] for n in ("counts", "turning", "speeds")}
    speed_rules = sorted({(cam, rule) for _, cam, rule, _ in raw.speeds})
    any_lines = any(layout.movements[c] for c in layout.cameras)
    for b in window.bins():
        tables, links = _line_tables(raw, layout, b, k)
        withheld = protect(tables, links)
        counts, speeds = _Bin(tables[0], withheld), _Bin(tables[1], withheld)
        turning = {t.name: _Bin(t, withheld) for t in tables[2:]}
        live = {c for c in layout.cameras if (c, b) in raw.up}
        for cam in layout.cameras:
            for rule, d in layout.movements[cam]:
                for cls in (*CLASSES, TOTAL):
                    got = counts.get((cam, rule, d), cls) if cam in live else DOWN
                    keys: dict[str, Any] = {"camera": cam, "rule": rule, "direction": d}
                    out["counts"].append(_counted({**keys, "class": cls}, b, got))
            for cls in CLASSES:
                turns = turning.get(f"turning/{cam}/{cls}")
                legs: list[Key] = [*layout.legs[cam], TOTAL] if layout.legs[cam] else []
                for e in legs:
                    for x in legs:
                        keys = {"camera": cam, "entry": e, "exit": x, "class": cls}
                        out["turning"].append(_counted(keys, b, turns.get(e, x) if turns else DOWN))
        if any_lines:
            for cls in (*CLASSES, TOTAL):
                keys = {"camera": TOTAL, "rule": TOTAL, "direction": TOTAL, "class": cls}
                got = counts.get(TOTAL, cls) if tables[0].cells else DOWN
                out["counts"].append(_counted(keys, b, got))
        for cam, rule in speed_rules:
            for cls in CLASSES:
                row: Row = {"camera": cam, "rule": rule, "class": cls, "bin_start": b,
                            "bin_minutes": BIN_MINUTES}  # fmt: skip
                if cam not in live:
                    values = {"count": None, "p15_kmh": None, "p50_kmh": None, "p85_kmh": None}
                    out["speeds"].append({**row, **values, "status": "camera_down"})
                    continue
                sb = raw.speeds.get((b, cam, rule, cls))
                count, status = speeds.get((cam, rule), cls)
                out["speeds"].append({**row, **_speed(sb, k, count, status)})
    return {n: rows for n, rows in out.items() if n in names}


def _speed(sb: SpeedBin | None, k: int, count: int | None, status: Status) -> Row:
    """A speed row's values: the protected count; percentiles made of at least ``k``
    speeds (also when the count is withheld as a complement)."""
    shown = sb is not None and sb.count >= k
    return {
        "count": count,
        "p15_kmh": _r(sb.p15_kmh, 1) if shown and sb else None,
        "p50_kmh": _r(sb.p50_kmh, 1) if shown and sb else None,
        "p85_kmh": _r(sb.p85_kmh, 1) if shown and sb else None,
        "status": status,
    }


ZONE_VALUES = ("entries", "exits", "occupancy_mean", "occupancy_max", "dwell_p50_s", "dwell_p90_s")


def _zones_family(raw: _Raw, layout: _Layout, window: Window, k: int) -> list[Row]:
    """Zones: a bin's entries and exits, each a table of places by classes with margins;
    occupancy and dwell beside them on the cell rows."""
    places = [(cam, z) for cam in layout.cameras for z in layout.zones[cam]]
    keys: list[tuple[Key, Key]] = [(p, c) for p in places for c in (*CLASSES, TOTAL)]
    keys += [(TOTAL, c) for c in (*CLASSES, TOTAL)] if places else []
    out: list[Row] = []
    for b in window.bins():
        live = {p for p in places if (p[0], b) in raw.up}
        found = {(p, c): raw.zones.get((b, *p, c)) for p in places if p in live for c in CLASSES}
        ins = Table("entries", k, {e: z.entries if z else 0 for e, z in found.items()})
        outs = Table("exits", k, {e: z.exits if z else 0 for e, z in found.items()})
        withheld = protect([ins, outs])
        entries, exits = _Bin(ins, withheld), _Bin(outs, withheld)
        for place, cls in keys:
            cam, zone = place if isinstance(place, tuple) else (TOTAL, TOTAL)
            row: Row = {"camera": cam, "zone": zone, "class": cls, "bin_start": b,
                        "bin_minutes": BIN_MINUTES}  # fmt: skip
            if not (place in live if place != TOTAL else live):
                out.append({**row, **dict.fromkeys(ZONE_VALUES), "status": "camera_down"})
                continue
            (n_in, s_in), (n_out, s_out) = entries.get(place, cls), exits.get(place, cls)
            cell = place != TOTAL and cls != TOTAL
            extras, held = _zone_extras(raw.zones.get((b, cam, zone, cls)) if cell else None, k)
            if not cell:
                extras = dict.fromkeys(extras)
            status: Status = "suppressed" if held or "suppressed" in (s_in, s_out) else "ok"
            out.append({**row, "entries": n_in, "exits": n_out, **extras, "status": status})
    return out


def _zone_extras(zb: ZoneBin | None, k: int) -> tuple[Row, bool]:
    """Occupancy (published when its peak reached ``k``, or was 0) and dwell percentiles
    (when at least ``k`` objects left with a dwell time), and whether any is withheld."""
    out: Row = {"occupancy_mean": 0.0, "occupancy_max": 0, "dwell_p50_s": None,
                "dwell_p90_s": None}  # fmt: skip
    if zb is None:
        return out, False
    held = False
    if zb.occupancy_max >= k:
        out.update(occupancy_mean=_r(zb.occupancy_mean, 2), occupancy_max=zb.occupancy_max)
    elif zb.occupancy_max > 0:
        out.update(occupancy_mean=None, occupancy_max=None)
        held = True
    if zb.dwell_count >= k:
        out.update(dwell_p50_s=_r(zb.dwell_p50_s, 1), dwell_p90_s=_r(zb.dwell_p90_s, 1))
    elif zb.dwell_count > 0:
        held = True
    return out, held


def _flows_family(
    raw: _Raw, window: Window, k: int, names: Collection[TableName]
) -> dict[TableName, list[Row]]:
    """Origin-destination (one table per class and bin, with margins) and journey counts
    (which may equal their origin-destination cell), protected together."""
    pairs = sorted({(o, d) for _, o, d, _ in raw.od})
    origins = list(dict.fromkeys(o for o, _ in pairs))
    dests = sorted({d for _, d in pairs})
    entries: list[tuple[Key, Key]] = list(pairs)
    entries += [(o, TOTAL) for o in origins] + [(TOTAL, d) for d in dests]
    entries += [(TOTAL, TOTAL)] if pairs else []
    trips = sorted({(o, d, source) for _, o, d, _, source in raw.journeys})
    out: dict[TableName, list[Row]] = {"od": [], "journeys": []}
    for b in window.bins():
        tables = [
            Table(f"od/{cls}", k, {(o, d): raw.od.get((b, o, d, cls), 0)
                                   for o, d in pairs if (o, b) in raw.up})
            for cls in CLASSES
        ]  # fmt: skip
        arrived = [j for j in raw.binned.get(("journeys", b), []) if (j.destination, b) in raw.up]
        counts: dict[Cell, int] = {((j.origin, j.destination, j.source), j.cls): j.count
                                   for j in arrived}  # fmt: skip
        links = [
            Link(("journeys", (j.origin, j.destination, j.source), j.cls),
                 ((f"od/{j.cls}", j.origin, j.destination),))
            for j in arrived
        ]  # fmt: skip
        journeys = Table("journeys", k, counts, margins=False)
        withheld = protect([*tables, journeys], links)
        any_up = any((o, b) in raw.up for o in origins)
        for cls, table in zip(CLASSES, tables, strict=True):
            protected = _Bin(table, withheld)
            for o, d in entries:
                known = (o, b) in raw.up if o != TOTAL else any_up
                keys = {"origin": o, "destination": d, "class": cls}
                out["od"].append(_counted(keys, b, protected.get(o, d) if known else DOWN))
        counted = _Bin(journeys, withheld)
        for o, d, source in trips:
            for cls in CLASSES:
                row: Row = {"origin": o, "destination": d, "class": cls, "source": source,
                            "bin_start": b, "bin_minutes": BIN_MINUTES}  # fmt: skip
                if (d, b) not in raw.up:
                    values = {"count": None, "p50_s": None, "p85_s": None}
                    out["journeys"].append({**row, **values, "status": "camera_down"})
                    continue
                jb = raw.journeys.get((b, o, d, cls, source))
                count, status = counted.get((o, d, source), cls)
                shown = jb is not None and jb.count >= k
                out["journeys"].append({**row, "count": count,
                                        "p50_s": _r(jb.p50_s, 1) if shown and jb else None,
                                        "p85_s": _r(jb.p85_s, 1) if shown and jb else None,
                                        "status": status})  # fmt: skip
    return {n: rows for n, rows in out.items() if n in names}


def build(
    rows: TrafficRows,
    cameras: Sequence[CameraConfig],
    window: Window,
    thresholds: Thresholds,
    names: Collection[TableName] = TABLES,
) -> dict[TableName, PublishedTable]:
    """The protected tables ``names`` from raw rows of whole bins (pure)."""
    unknown = set(names) - set(TABLES)
    if unknown:
        raise ValueError(f"no such traffic table: {sorted(unknown)}")
    layout = _layout(cameras, rows)
    raw = _Raw.of(rows)
    made: dict[TableName, list[Row]] = {}
    if not window.empty:
        if {"counts", "turning", "speeds"} & set(names):
            made.update(_lines_family(raw, layout, window, thresholds.k, names))
        if "zones" in names:
            made["zones"] = _zones_family(raw, layout, window, thresholds.k)
        if {"od", "journeys"} & set(names):
            made.update(_flows_family(raw, window, thresholds.flow_k, names))
    return {
        n: PublishedTable(n, thresholds.of(n), window.start, window.end, tuple(made.get(n, ())))
        for n in TABLES
        if n in names
    }
