"""Journeys on Elasticsearch without a server.

No Elasticsearch server can run on the CI machines (the contract suite runs on one when
CIVICSIGHT_ES_URL is set), so these tests check the exact request bodies, that every
field they name exists in the index templates (strict mappings refuse anything else),
and, through a fake client at the network boundary that answers exactly these bodies
(filters, order, pages), that the store gives the same rows as SQLite for the same
tracks.
"""

from __future__ import annotations

from typing import Any

import pytest

from civicsight.events import TrackletRef, TrackUpdate, global_track_id
from civicsight.plate_journeys import JourneyPart
from civicsight.store import es_requests as rq
from civicsight.store import journeys_es as jq
from civicsight.store.elastic import ElasticTrackStore
from civicsight.store.sqlite import SqliteTrackStore
from civicsight.traffic import TrafficQuery

T0 = 1_790_000_100.0
QUERY = TrafficQuery(since=T0 + 10, until=T0 + 1000, camera="cam-a", cls="car")


def properties(kind: str) -> dict[str, Any]:
    props: dict[str, Any] = rq.template(kind, "civicsight")[1]["template"]["mappings"]["properties"]
    return props


def test_trips_search_body() -> None:
    """Guards reading the per-tracklet t- tracks or merged tracks, a window on the wrong
    fields, and paging without a stable order."""
    assert jq.trips_search(QUERY, after=[T0, "g-1"]) == {
        "query": {
            "bool": {
                "filter": [
                    {"prefix": {"track_id": "g-"}},
                    {"range": {"first_seen": {"lt": T0 + 1800}}},
                    {"range": {"last_seen": {"gte": T0 + 900}}},
                    {"term": {"cls": "car"}},
                    {"term": {"cameras": "cam-a"}},
                ],
                "must_not": [{"exists": {"field": "merged_into"}}],
            }
        },
        "sort": [{"first_seen": "asc"}, {"track_id": "asc"}],
        "size": jq.PAGE,
        "_source": ["track_id", "cls", "emitted_at", "legs"],
        "search_after": [T0, "g-1"],
    }


def test_parts_search_body() -> None:
    assert jq.parts_search(QUERY) == {
        "query": {
            "bool": {
                "filter": [
                    {
                        "range": {
                            "bin_start": {
                                "gte": int(T0 + 900),
                                "lt": int(T0 + 1800),
                                "format": "epoch_second",
                            }
                        }
                    },
                    {"term": {"cls": "car"}},
                    {
                        "bool": {
                            "should": [
                                {"term": {"origin": "cam-a"}},
                                {"term": {"destination": "cam-a"}},
                            ],
                            "minimum_should_match": 1,
                        }
                    },
                ]
            }
        },
        "sort": [
            {"bin_start": "asc"},
            {"origin": "asc"},
            {"destination": "asc"},
            {"cls": "asc"},
            {"run": "asc"},
        ],
        "size": jq.PAGE,
        "_source": ["bin_start", "origin", "destination", "cls", "run", "seconds"],
    }


PART = JourneyPart(
    bin_start=T0,
    origin="cam-a",
    destination="cam-b",
    cls="car",
    run="00c0ffee",
    seconds=(12.5, 30.0),
)


def test_part_documents_and_their_versions() -> None:
    """Guards a part replaced by an older one with fewer journeys (its external version
    is its journey count) or two runs' parts on one id."""
    action, doc = jq.part_actions([PART], "cs-x", stored_at=T0 + 5)
    assert action == {
        "index": {
            "_index": "cs-x-traffic-journeys",
            "_id": f"{int(T0)}:cam-a:cam-b:car:00c0ffee",
            "version": 2,
            "version_type": "external",
        }
    }
    assert doc == {
        "bin_start": int(T0),
        "bin_minutes": 15,
        "origin": "cam-a",
        "destination": "cam-b",
        "cls": "car",
        "source": "plates",
        "run": "00c0ffee",
        "count": 2,
        "seconds": [12.5, 30.0],
        "stored_at": T0 + 5,
    }
    assert jq.part_of(doc) == PART


def test_every_field_named_is_in_the_templates() -> None:
    """Guards a query on a field the tracks template does not map (it would match nothing)
    and a part document the strict journeys template would refuse."""
    tracks = properties("tracks")
    for field in ("track_id", "first_seen", "last_seen", "cls", "cameras", "merged_into"):
        assert tracks[field]["type"] in ("keyword", "double")
    assert set(jq.TRIP_FIELDS) <= set(tracks)
    legs = rq.actions(update("g-1", 1, (("cam-a", 1, 0, 5),)), "civicsight", T0)[0][1]["legs"]
    assert set(legs[0]) == {"tracklet", "camera_id", "first_seen", "last_seen"}
    parts = properties(jq.PARTS)
    _, doc = jq.part_actions([PART], "civicsight", T0)
    assert set(doc) == set(parts)
    assert parts["bin_start"] == {"type": "date", "format": "epoch_second"}
    assert {f for s in jq.PART_SORT for f in s} | {"run"} <= set(parts)
    assert parts["seconds"]["index"] is False


def test_journeys_template_is_strict_and_renamed() -> None:
    name, body = rq.template(jq.PARTS, "cs-x")
    assert name == "cs-x-traffic-journeys"
    assert body["index_patterns"] == ["cs-x-traffic-journeys"]
    assert body["template"]["mappings"]["dynamic"] == "strict"
    assert body["template"]["settings"]["index.lifecycle.name"] == "cs-x-data"


# ---- the store through a fake client ----------------------------------------------------


def _matches(doc: dict[str, Any], clause: dict[str, Any]) -> bool:
    ((kind, arg),) = clause.items()
    if kind == "bool":
        should = arg.get("should")
        ok = all(_matches(doc, c) for c in arg.get("filter", []))
        ok = ok and not any(_matches(doc, c) for c in arg.get("must_not", []))
        return ok and (should is None or any(_matches(doc, c) for c in should))
    ((field, value),) = arg.items()
    got = doc.get(field)
    if kind == "prefix":
        return isinstance(got, str) and got.startswith(value)
    if kind == "term":
        return value in got if isinstance(got, list) else got == value
    if kind == "exists":
        return doc.get(value) is not None
    if kind == "range":
        ops = {"lt": float.__lt__, "gte": float.__ge__}
        return all(ops[op](float(got), float(v)) for op, v in value.items() if op in ops)
    raise AssertionError(f"the fake does not know {kind}")


class FakeCluster:
    """The network boundary: indexes bulk lines and answers searches by the bodies' own
    filters, sort and ``search_after`` (only the clauses the journeys code sends)."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, dict[str, Any]]] = {}
        self.versions: dict[tuple[str, str], int] = {}
        self.searches: list[dict[str, Any]] = []

    def bulk(self, operations: list[dict[str, Any]], refresh: bool) -> dict[str, Any]:
        items = []
        for action, doc in zip(operations[::2], operations[1::2], strict=True):
            meta = action["index"]
            key = (meta["_index"], meta["_id"])
            if self.versions.get(key, 0) >= meta["version"]:
                items.append({"index": {"status": 409}})
                continue
            self.versions[key] = meta["version"]
            self.docs.setdefault(meta["_index"], {})[meta["_id"]] = doc
            items.append({"index": {"status": 201}})
        return {"items": items}

    def search(self, index: str, **body: Any) -> dict[str, Any]:
        self.searches.append(body)
        fields = [next(iter(s)) for s in body["sort"]]
        hits = [d for d in self.docs.get(index, {}).values() if _matches(d, body["query"])]
        hits.sort(key=lambda d: [d[f] for f in fields])
        if "search_after" in body:
            hits = [d for d in hits if [d[f] for f in fields] > body["search_after"]]
        page = hits[: body["size"]]
        return {
            "hits": {
                "hits": [
                    {"_source": {k: d[k] for k in body["_source"]}, "sort": [d[f] for f in fields]}
                    for d in page
                ]
            }
        }


Leg = tuple[str, int, float, float]


def update(track_id: str, version: int, legs: tuple[Leg, ...], **kw: Any) -> TrackUpdate:
    refs = tuple(
        TrackletRef(camera_id=c, track_id=n, first_seen=T0 + f, last_seen=T0 + last)
        for c, n, f, last in legs
    )
    return TrackUpdate(
        track_id=track_id,
        version=version,
        cls=kw.pop("cls", "car"),
        tracklets=refs,
        first_seen=min(r.first_seen for r in refs),
        last_seen=max(r.last_seen for r in refs),
        emitted_at=T0 + 5000 + version,
        **kw,
    )


def world() -> list[TrackUpdate]:
    """Tracks of every kind the read must tell apart, over two bins."""
    out = []
    for i in range(7):  # more than a page (PAGE is lowered below)
        a = ("cam-a", 10 * i + 1, 30.0 * i, 30.0 * i + 5)
        b = ("cam-b", 10 * i + 2, 30.0 * i + 60 + i, 30.0 * i + 70 + i)
        c = ("cam-c", 10 * i + 3, 30.0 * i + 900, 30.0 * i + 910)
        out += [update(global_track_id(x[0], x[1]), 1, (x,)) for x in (a, b, c)]
        out.append(update(f"g-{i}", 1, (a, b, c), cls="bus" if i % 3 == 0 else "car"))
    out.append(update("g-0", 2, (("cam-a", 1, 0.0, 5.0), ("cam-b", 2, 60.0, 70.0))))  # split
    out.append(update("g-s", 1, (("cam-c", 3, 900.0, 910.0),)))  # what was split off
    out.append(update("g-x", 2, (("cam-c", 13, 930.0, 940.0),), closed=True, merged_into="g-1"))
    return out


@pytest.mark.parametrize(
    "query",
    [
        TrafficQuery(since=0, until=4e9),
        TrafficQuery(since=T0 + 900, until=T0 + 1800),
        TrafficQuery(since=0, until=4e9, camera="cam-c", cls="car"),
    ],
)
def test_elasticsearch_gives_the_rows_sqlite_gives(
    query: TrafficQuery, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the two stores disagreeing on a traffic table (the API reads either), and a
    read that stops after the first page of tracks."""
    monkeypatch.setattr(jq, "PAGE", 3)
    cluster = FakeCluster()
    es = ElasticTrackStore("http://es.invalid:9200", prefix="cs-x", client=cluster)
    sqlite = SqliteTrackStore(tmp_path / "tracks.db")
    sqlite.open()
    tracks = world()
    es.write(tracks, T0)
    sqlite.write(tracks, T0)
    parts = [PART, PART.model_copy(update={"run": "11c0ffee", "seconds": (40.0,)})]
    assert es.write_journey_parts(parts, T0) == sqlite.write_journey_parts(parts, T0) == 2
    assert es.write_journey_parts(parts[:1], T0) == 0  # a replay
    assert es.journeys(query) == sqlite.journeys(query)
    assert es.od(query) == sqlite.od(query)
    assert len(es.od(TrafficQuery(since=0, until=4e9))) > 0
    pages = [s for s in cluster.searches if s["_source"] == jq.TRIP_FIELDS]
    assert len(pages) > 1 and "search_after" in pages[-1]
    sqlite.close()


def test_a_refused_part_raises() -> None:
    """Guards journey bins silently lost when the cluster refuses them (the batch must not
    be committed)."""

    class Refusing(FakeCluster):
        def bulk(self, operations: list[dict[str, Any]], refresh: bool) -> dict[str, Any]:
            return {
                "items": [{"index": {"status": 400, "error": {"type": "mapper_parsing_exception"}}}]
            }

    es = ElasticTrackStore("http://es.invalid:9200", client=Refusing())
    with pytest.raises(RuntimeError, match="mapper_parsing_exception"):
        es.write_journey_parts([PART], T0)
    assert es.write_journey_parts([], T0) == 0
