"""Journey times and origin-destination on the Elasticsearch store, and the plate journey
parts the indexer writes: the exact request bodies (plain data, unit-tested without a
server) and ``ElasticJourneys``, the part of ``ElasticTrackStore`` that sends them (a
base class: it uses the store's client and prefix; only ``elastic.py`` imports the
client library).

Track journeys and OD are computed at read time, as on SQLite (why:
``civicsight.journeys``): the tracks index answers the join's latest track versions
(``track_id`` prefix ``g-``, no ``merged_into``) whose time span meets the window, a page
at a time in a stable order (``search_after``), with their ``legs`` (each tracklet's
camera and times, kept in ``_source``); the pure code makes the bins, so both stores
give the same rows. Plate journey parts live in ``<prefix>-traffic-journeys``
(``template-traffic-journeys.json``), one document per part, its external version the
part's journey count, so a part never regresses.
"""

from __future__ import annotations

from typing import Any

from civicsight.events import JOINED_TRACK_PREFIX
from civicsight.journeys import Trip, Visit, journey_bins, journey_rows, merge_rows, od_bins
from civicsight.plate_journeys import JourneyPart, part_times
from civicsight.store.es_requests import index_name, template
from civicsight.traffic import BIN_MINUTES, JourneyBin, OdBin, TrafficQuery, bin_window

PARTS = "traffic-journeys"
"""The index (and template) kind of plate journey parts."""
PAGE = 5_000
"""Documents per page of a read."""
TRIP_FIELDS = ["track_id", "cls", "emitted_at", "legs"]
PART_FIELDS = ["bin_start", "origin", "destination", "cls", "run", "seconds"]
PART_SORT = [{"bin_start": "asc"}, {"origin": "asc"}, {"destination": "asc"}, {"cls": "asc"}]

Body = dict[str, Any]


def trips_search(query: TrafficQuery, after: list[Any] | None = None) -> Body:
    """One page of the join's latest tracks whose span meets the window's raw times
    (a superset of those with a tracklet starting in it; the pure code decides)."""
    lo, hi = bin_window(query.since, query.until)
    filters: list[Body] = [
        {"prefix": {"track_id": JOINED_TRACK_PREFIX}},
        {"range": {"first_seen": {"lt": hi}}},
        {"range": {"last_seen": {"gte": lo}}},
    ]
    if query.cls is not None:
        filters.append({"term": {"cls": query.cls}})
    if query.camera is not None:
        filters.append({"term": {"cameras": query.camera}})
    body: Body = {
        "query": {"bool": {"filter": filters, "must_not": [{"exists": {"field": "merged_into"}}]}},
        "sort": [{"first_seen": "asc"}, {"track_id": "asc"}],
        "size": PAGE,
        "_source": TRIP_FIELDS,
    }
    if after is not None:
        body["search_after"] = after
    return body


def trip_of(src: Body) -> Trip:
    """A track document (``_source`` of ``trips_search``) as a trip."""
    return Trip(
        key=src["track_id"],
        cls=src["cls"],
        visits=tuple(
            Visit(leg["tracklet"], leg["camera_id"], leg["first_seen"], leg["last_seen"])
            for leg in src["legs"]
        ),
        decided_at=src["emitted_at"],
    )


def parts_search(query: TrafficQuery, after: list[Any] | None = None) -> Body:
    """One page of plate journey parts of bins starting in ``[since, until)`` (whole
    seconds: bin starts are multiples of 900)."""
    lo, hi = bin_window(query.since, query.until)
    filters: list[Body] = [
        {"range": {"bin_start": {"gte": int(lo), "lt": int(hi), "format": "epoch_second"}}}
    ]
    if query.cls is not None:
        filters.append({"term": {"cls": query.cls}})
    if query.camera is not None:
        filters.append(
            {
                "bool": {
                    "should": [
                        {"term": {"origin": query.camera}},
                        {"term": {"destination": query.camera}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    body: Body = {
        "query": {"bool": {"filter": filters}},
        "sort": [*PART_SORT, {"run": "asc"}],
        "size": PAGE,
        "_source": PART_FIELDS,
    }
    if after is not None:
        body["search_after"] = after
    return body


def part_id(part: JourneyPart) -> str:
    return f"{int(part.bin_start)}:{part.origin}:{part.destination}:{part.cls}:{part.run}"


def part_actions(parts: list[JourneyPart], prefix: str, stored_at: float) -> list[Body]:
    """Bulk lines: one document per part, replaced only by a part with more journeys."""
    lines: list[Body] = []
    for p in parts:
        lines.append(
            {
                "index": {
                    "_index": index_name(prefix, PARTS),
                    "_id": part_id(p),
                    "version": p.count,
                    "version_type": "external",
                }
            }
        )
        lines.append(
            {
                "bin_start": int(p.bin_start),
                "bin_minutes": BIN_MINUTES,
                "origin": p.origin,
                "destination": p.destination,
                "cls": p.cls,
                "source": "plates",
                "run": p.run,
                "count": p.count,
                "seconds": list(p.seconds),
                "stored_at": stored_at,
            }
        )
    return lines


def part_of(src: Body) -> JourneyPart:
    return JourneyPart(
        bin_start=float(src["bin_start"]),
        origin=src["origin"],
        destination=src["destination"],
        cls=src["cls"],
        run=src["run"],
        seconds=tuple(src["seconds"]),
    )


class ElasticJourneys:
    """``journeys``, ``od`` and ``write_journey_parts`` of ``ElasticTrackStore``."""

    prefix: str
    refresh: bool

    @property
    def es(self) -> Any:
        raise NotImplementedError  # the store's client

    def _open_journeys(self) -> None:
        """Put the parts' template and create their index (at the store's ``open``)."""
        name, body = template(PARTS, self.prefix)
        self.es.indices.put_index_template(name=name, **body)
        index = index_name(self.prefix, PARTS)
        if not self.es.indices.exists(index=index):
            self.es.indices.create(index=index)

    def _drop_journeys(self) -> None:
        self.es.indices.delete(index=index_name(self.prefix, PARTS), ignore_unavailable=True)
        self.es.indices.delete_index_template(name=index_name(self.prefix, PARTS))

    def _pages(self, kind: str, build: Any, query: TrafficQuery) -> list[Body]:
        """Every hit of a paged search (``build(query, after)``), in its sort order."""
        out: list[Body] = []
        after = None
        while True:
            hits = self.es.search(index=index_name(self.prefix, kind), **build(query, after))[
                "hits"
            ]["hits"]
            out += [h["_source"] for h in hits]
            if len(hits) < PAGE:
                return out
            after = hits[-1]["sort"]

    def _trips(self, query: TrafficQuery) -> list[Trip]:
        return [trip_of(src) for src in self._pages("tracks", trips_search, query)]

    def journey_parts(self, query: TrafficQuery) -> list[JourneyPart]:
        return [part_of(src) for src in self._pages(PARTS, parts_search, query)]

    def journeys(self, query: TrafficQuery) -> list[JourneyBin]:
        plates = journey_rows(part_times(self.journey_parts(query), query), "plates")
        return merge_rows(journey_bins(self._trips(query), query), plates)

    def od(self, query: TrafficQuery) -> list[OdBin]:
        return od_bins(self._trips(query), query)

    def write_journey_parts(self, parts: list[JourneyPart], stored_at: float) -> int:
        """One bulk request; a part the cluster already holds with as many journeys or
        more is refused (409) and not counted. Other refusals raise: the indexer's batch
        is then not committed and comes again."""
        if not parts:
            return 0
        response = self.es.bulk(
            operations=part_actions(parts, self.prefix, stored_at), refresh=self.refresh
        )
        written = 0
        for item in response.get("items", []):
            result = next(iter(item.values()))
            status = int(result.get("status", 500))
            if status < 300:
                written += 1
            elif status != 409:
                error = result.get("error") or {}
                raise RuntimeError(
                    f"journey parts refused: {status} {error.get('type', 'error')}: "
                    f"{error.get('reason', '')}"
                )
        return written
