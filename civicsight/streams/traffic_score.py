"""Journey times and origin-destination scored against a scenario's ground truth (pure).

The truth's trips are its identities: each identity's tracklets (``truth.jsonl``) with
their times (first and last detection) and the class most of their detections have.
They go through the same definitions as the hub's tracks (``civicsight.journeys``), so
what is compared is only what the join got right or wrong: a wrong link makes a journey
or an OD pair that is not there, a missed link splits one trip into two.

A *cell* is one row of the published tables: bin, origin, destination, class. Over the
cells of either side (a cell only one side has counts 0 on the other):

- counts (OD trips, journeys): mean absolute error per cell, and the share of cells
  whose count is within 10 % of the truth (for counts under 10: exact);
- journey times: over the cells both sides have, the mean absolute error of p50 and p85
  in seconds, and the share within 10 % of the truth's.

The same figures over the cells whose true count is at least ``disclosure.MIN_COUNT``
(``published``): the cells a traffic authority would actually see.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from civicsight.disclosure import MIN_COUNT
from civicsight.events import ObjectClass
from civicsight.journeys import Trip, Visit
from civicsight.traffic import JourneyBin, OdBin

WITHIN = 0.10
Cell = tuple[float, str, str, str]


@dataclass
class Span:
    """One tracklet as the scenario's detections show it."""

    camera: str
    first: float
    last: float
    classes: Counter[str] = field(default_factory=Counter)

    def add(self, at: float, cls: str) -> None:
        self.first, self.last = min(self.first, at), max(self.last, at)
        self.classes[cls] += 1


def truth_trips(truth: Iterable[Mapping[str, Any]], spans: Mapping[str, Span]) -> list[Trip]:
    """One trip per true identity, from its tracklets that have detections."""
    visits: dict[str, list[Visit]] = defaultdict(list)
    classes: dict[str, Counter[str]] = defaultdict(Counter)
    for row in truth:
        span = spans.get(str(row["local_track_id"]))
        if span is None:
            continue  # a tracklet with plate or appearance events but no detection
        identity = str(row["identity"])
        visits[identity].append(
            Visit(str(row["local_track_id"]), span.camera, span.first, span.last)
        )
        classes[identity].update(span.classes)
    return [
        Trip(
            f"truth-{identity}",
            cast(ObjectClass, min(classes[identity].items(), key=lambda kv: (-kv[1], kv[0]))[0]),
            tuple(v),
        )
        for identity, v in sorted(visits.items())
    ]


def _within(value: float, truth: float) -> bool:
    return abs(value - truth) <= WITHIN * abs(truth) + 1e-9


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 3) if flags else None


def count_errors(hub: Mapping[Cell, int], truth: Mapping[Cell, int]) -> dict[str, Any]:
    """Per-cell count errors over every cell either side has, and over the published."""
    cells = sorted(set(hub) | set(truth))
    published = [c for c in cells if truth.get(c, 0) >= MIN_COUNT]

    def errors(over: list[Cell]) -> dict[str, Any]:
        return {
            "cells": len(over),
            "mae": _mean([abs(hub.get(c, 0) - truth.get(c, 0)) for c in over]),
            "within_10pct": _share([_within(hub.get(c, 0), truth.get(c, 0)) for c in over]),
        }

    return {
        "truth_total": sum(truth.values()),
        "hub_total": sum(hub.values()),
        **errors(cells),
        "published": errors(published),
    }


def compare_od(hub: Iterable[OdBin], truth: Iterable[OdBin]) -> dict[str, Any]:
    def cells(rows: Iterable[OdBin]) -> dict[Cell, int]:
        return {(r.bin_start, r.origin, r.destination, r.cls): r.count for r in rows}

    return count_errors(cells(hub), cells(truth))


def compare_journeys(hub: Iterable[JourneyBin], truth: Iterable[JourneyBin]) -> dict[str, Any]:
    def cells(rows: Iterable[JourneyBin]) -> dict[Cell, JourneyBin]:
        return {(r.bin_start, r.origin, r.destination, r.cls): r for r in rows}

    h, t = cells(hub), cells(truth)
    out = count_errors({c: r.count for c, r in h.items()}, {c: r.count for c, r in t.items()})
    both = sorted(set(h) & set(t))
    for name in ("p50_s", "p85_s"):
        pairs = [(getattr(h[c], name), getattr(t[c], name)) for c in both]
        published = [
            (getattr(h[c], name), getattr(t[c], name)) for c in both if t[c].count >= MIN_COUNT
        ]
        out[name] = {
            "cells": len(pairs),
            "mae": _mean([abs(a - b) for a, b in pairs]),
            "within_10pct": _share([_within(a, b) for a, b in pairs]),
            "published": {
                "cells": len(published),
                "mae": _mean([abs(a - b) for a, b in published]),
                "within_10pct": _share([_within(a, b) for a, b in published]),
            },
        }
    return out
