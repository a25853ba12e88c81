"""The traffic rows on Elasticsearch without a server.

No Elasticsearch server can be installed on the CI machines, so these tests check the
exact requests the store sends for traffic rows (bulk lines, searches with their paging,
retention, the templates put when it opens) and how it treats refused items. The one
fake is the client object, at the network boundary. Against a real cluster the same
behaviour is test_traffic_contract.py, run whenever CIVICSIGHT_ES_URL is set.
"""

from __future__ import annotations

from typing import Any

import pytest

from civicsight.store import es_requests as rq
from civicsight.store import traffic_es as tq
from civicsight.store.elastic import ElasticTrackStore, StoreUnavailableError
from civicsight.traffic import (
    ROW_TYPES,
    CameraBin,
    CountBin,
    SpeedBin,
    TrafficQuery,
    TurnBin,
    ZoneBin,
)

B = 1_700_000_100.0
ROWS = [
    CameraBin(bin_start=B, camera="street", up=True),
    CountBin(bin_start=B, camera="street", rule="mid", direction="north", cls="car", count=4),
    ZoneBin(
        bin_start=B,
        camera="street",
        zone="bay",
        cls="car",
        entries=2,
        exits=1,
        occupancy_mean=0.5,
        occupancy_max=2,
        dwell_count=1,
        dwell_p50_s=12.0,
        dwell_p90_s=12.0,
    ),
    TurnBin(bin_start=B, camera="street", entry="mid", exit="east", cls="bus", count=1),
    SpeedBin(bin_start=B, camera="street", rule="mid", cls="car", count=2, p50_kmh=30.0),
]


def test_bulk_lines_use_the_row_key_as_the_document_id() -> None:
    """Guards random ids (every message about a bin would add documents: counts summed
    by any aggregation), versions that would refuse a recount, and fields the strict
    templates do not map."""
    lines = tq.actions(ROWS[:2], "cs-x", B + 5)
    assert lines == [
        {"index": {"_index": "cs-x-traffic-cameras", "_id": "street|1700000100"}},
        {"bin_start": B, "bin_minutes": 15, "camera": "street", "up": True, "stored_at": B + 5},
        {"index": {"_index": "cs-x-traffic-counts", "_id": "street|mid|north|car|1700000100"}},
        {
            "bin_start": B,
            "bin_minutes": 15,
            "camera": "street",
            "rule": "mid",
            "direction": "north",
            "cls": "car",
            "count": 4,
            "stored_at": B + 5,
        },
    ]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: type(r).__name__)
def test_documents_match_their_template_exactly(row: Any) -> None:
    """Guards a row field the template does not map (the cluster would refuse every
    write) or a template field no row fills (a field renamed on one side only)."""
    action, doc = tq.actions([row], "civicsight", B)
    index = action["index"]["_index"]
    _, body = rq.template(index.removeprefix("civicsight-"), "civicsight")
    assert set(doc) == set(body["template"]["mappings"]["properties"])
    assert body["index_patterns"] == [index]
    assert body["template"]["mappings"]["dynamic"] == "strict"


@pytest.mark.parametrize(
    ("kind", "query", "filters", "sort"),
    [
        (
            "counts",
            TrafficQuery(since=B, until=B + 3600),
            [],
            ["rule", "direction", "cls"],
        ),
        (
            "zones",
            TrafficQuery(since=B, until=B + 3600, camera="street", cls="bus"),
            [{"term": {"camera": "street"}}, {"term": {"cls": "bus"}}],
            ["zone", "cls"],
        ),
        (  # whether a camera worked has no class
            "cameras",
            TrafficQuery(since=B, until=B + 3600, cls="bus"),
            [],
            [],
        ),
    ],
)
def test_searches_take_bins_starting_in_since_until_in_bin_order(
    kind: str, query: TrafficQuery, filters: list[Any], sort: list[str]
) -> None:
    """Guards a closed upper bound (a bin read twice by readers paging by bins), the
    bounds read as milliseconds, filters dropped, and an order other than bin, then key."""
    body = tq.search(kind, query)  # type: ignore[arg-type]
    assert body == {
        "query": {
            "bool": {
                "filter": [
                    {
                        "range": {
                            "bin_start": {
                                "gte": query.since,
                                "lt": query.until,
                                "format": "epoch_second",
                            }
                        }
                    },
                    *filters,
                ]
            }
        },
        "sort": [{"bin_start": "asc"}, {"camera": "asc"}, *({f: "asc"} for f in sort)],
        "size": tq.PAGE,
        "_source": list(ROW_TYPES[kind].model_fields),  # type: ignore[index]
    }
    assert tq.search(kind, query, after=[1, "x"])["search_after"] == [1, "x"]  # type: ignore[arg-type]


class TrafficClient:
    """Stands in for the network: answers bulk calls with scripted statuses and searches
    with scripted pages, and records what was sent."""

    def __init__(self, bulk: list[list[int]] | None = None, pages: list[list[Any]] | None = None):
        self.bulks = bulk or []
        self.pages = pages or []
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def bulk(self, operations: list[dict[str, Any]], refresh: bool) -> dict[str, Any]:
        self.calls.append(("bulk", {"operations": operations}))
        statuses = self.bulks.pop(0)
        return {
            "items": [
                {
                    "index": {
                        "status": s,
                        "error": {"type": "mapper_parsing_exception", "reason": "bad"},
                    }
                }
                for s in statuses
            ]
        }

    def search(self, index: str, **body: Any) -> dict[str, Any]:
        self.calls.append(("search", {"index": index, **body}))
        return {"hits": {"hits": self.pages.pop(0)}}

    def delete_by_query(self, index: str, **body: Any) -> dict[str, Any]:
        self.calls.append(("delete_by_query", {"index": index, **body}))
        return {"deleted": 3 if index.endswith("cameras") else 7}


def store(client: TrafficClient) -> ElasticTrackStore:
    return ElasticTrackStore("http://es", prefix="cs-x", client=client, sleep=lambda _s: None)


def test_write_retries_429_and_names_a_refused_row() -> None:
    """Guards a busy cluster (429) losing rows, and a refused row going unreported (the
    indexer dead-letters the message with this reason)."""
    client = TrafficClient(bulk=[[201, 429], [201]])
    assert store(client).write_traffic(ROWS[:2], B) == 2
    assert len(client.calls[1][1]["operations"]) == 2  # only the 429 row again
    client = TrafficClient(bulk=[[201, 400, 201]])
    with pytest.raises(tq.TrafficWriteError, match=r"1 of 3 .*street\|mid\|north\|car.*bad"):
        store(client).write_traffic(ROWS[:3], B)
    client = TrafficClient(bulk=[[429]] * 9)
    with pytest.raises(StoreUnavailableError):
        store(client).write_traffic(ROWS[:1], B)


def test_reads_page_with_search_after() -> None:
    """Guards a month of bins cut at the first page."""
    first = [
        {"_source": ROWS[1].model_dump(mode="json"), "sort": [B * 1000 + i, "street", "mid"]}
        for i in range(tq.PAGE)
    ]
    last = [{"_source": ROWS[1].model_dump(mode="json"), "sort": [B * 1000 + 1e6, "x"]}]
    client = TrafficClient(pages=[first, last])
    got = store(client).counts(TrafficQuery(since=B, until=B + 86400))
    assert len(got) == tq.PAGE + 1 and got[0] == ROWS[1]
    (_, one), (_, two) = client.calls
    assert one["index"] == "cs-x-traffic-counts" and "search_after" not in one
    assert two["search_after"] == [B * 1000 + tq.PAGE - 1, "street", "mid"]


def test_retention_deletes_bins_before_the_cutoff_in_every_traffic_index() -> None:
    client = TrafficClient()
    assert store(client).purge("traffic", B) == 3
    assert [(name, kw["index"]) for name, kw in client.calls] == [
        ("delete_by_query", f"cs-x-traffic-{k}")
        for k in ("cameras", "counts", "zones", "turns", "speeds")
    ]
    assert all(
        kw["query"] == {"range": {"bin_start": {"lt": B, "format": "epoch_second"}}}
        for _, kw in client.calls
    )


def test_open_puts_the_traffic_templates_and_indices() -> None:
    """Guards traffic indices created without their strict templates (dynamic mappings
    would accept any field) or never created."""
    calls: list[tuple[str, dict[str, Any]]] = []

    class Index:
        indices = ilm = None

        def __getattr__(self, name: str) -> Any:
            def call(**kwargs: Any) -> Any:
                calls.append((name, kwargs))
                if name == "exists":
                    return False
                if name == "get_mapping":
                    return {}
                return {}

            return call

    client = Index()
    client.indices = client.ilm = client  # type: ignore[assignment]
    ElasticTrackStore("http://es", prefix="cs-x", client=client).open()
    templates = {kw["name"] for name, kw in calls if name == "put_index_template"}
    created = [kw["index"] for name, kw in calls if name == "create"]
    for kind in tq.KINDS:
        assert f"cs-x-traffic-{kind}" in templates and f"cs-x-traffic-{kind}" in created
