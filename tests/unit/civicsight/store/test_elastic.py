"""The Elasticsearch backend without a server.

No Elasticsearch server can be installed on the CI machines, so these tests check the
exact requests the backend sends (templates, documents, bulk lines, queries) and how it
treats per-item bulk results. The one fake is the client object in the write tests, at
the network boundary. The behaviour against a real cluster is the contract suite
(test_contract.py), which runs on Elasticsearch whenever CIVICSIGHT_ES_URL is set.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from elasticsearch import NotFoundError

from civicsight.events import Appearance, PlateRead, TrackletRef, TrackUpdate, global_track_id
from civicsight.plate_text import SKELETON, SKELETON_KEY, PatternError
from civicsight.store import PlateQuery, SimilarQuery, TrackQuery, encode_cursor
from civicsight.store import es_requests as rq
from civicsight.store.elastic import ElasticTrackStore, StoreUnavailableError

T0 = 1_700_000_000.0
KINDS = (*rq.INDICES, "audit")


def update(version: int = 2, crop: bytes | None = None) -> TrackUpdate:
    return TrackUpdate(
        track_id="t-1",
        version=version,
        cls="car",
        tracklets=(
            TrackletRef(camera_id="cam-b", track_id=4, first_seen=T0 + 30, last_seen=T0 + 40),
            TrackletRef(camera_id="cam-a", track_id=1, first_seen=T0, last_seen=T0 + 5),
        ),
        first_seen=T0,
        last_seen=T0 + 40,
        path=((0.1, 0.2),),
        best_crop_jpeg=crop,
        emitted_at=T0 + 41,
    )


OWN = TrackUpdate(
    track_id=global_track_id("cam-a", 1),
    version=3,
    cls="car",
    tracklets=(TrackletRef(camera_id="cam-a", track_id=1, first_seen=T0, last_seen=T0 + 5),),
    first_seen=T0,
    last_seen=T0 + 5,
    best_crop_jpeg=b"\xff\xd8own",
    emitted_at=T0 + 6,
)
"""A version of a tracklet's own track carrying the tracklet's best crop."""
PLATE = PlateRead(camera_id="cam-a", track_id=1, captured_at=T0 + 2, text="AB123CD", conf=0.875)
LOOK = Appearance(
    camera_id="cam-a",
    track_id=1,
    captured_at=T0 + 3,
    cls="car",
    quality=0.5,
    model="m@1",
    embedding=(3.0, 4.0, 0, 0, 0, 0, 0, 0),
)


# ---- templates and policies ----------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_template_is_strict_and_renamed(kind: str) -> None:
    """Guards a mapping that accepts unknown fields (a producer could add ``race``) and a
    prefix that leaves the templates on the default indices."""
    name, body = rq.template(kind, "cs-x")
    mappings = body["template"]["mappings"]
    assert name == f"cs-x-{kind}"
    assert mappings["dynamic"] == "strict"
    assert all(p.startswith("cs-x-") for p in body["index_patterns"])
    assert body["template"]["settings"]["index.lifecycle.name"].startswith("cs-x-")
    assert not {"race", "ethnicity", "skin_colour", "face"} & set(mappings["properties"])


def test_vectors_are_hnsw_cosine_int8_with_the_configured_dims() -> None:
    _, body = rq.template("sightings", "civicsight", vector_dims=128)
    vector = body["template"]["mappings"]["properties"]["embedding"]
    assert vector == {
        "type": "dense_vector",
        "dims": 128,
        "index": True,
        "similarity": "cosine",
        "index_options": {"type": "int8_hnsw", "m": 16, "ef_construction": 100},
    }


@pytest.mark.parametrize("name", rq.POLICIES)
def test_ilm_policies_load_and_are_renamed(name: str) -> None:
    renamed, body = rq.policy(name, "cs-x")
    assert renamed.startswith("cs-x-") and "phases" in body["policy"]


@pytest.mark.parametrize(
    "event",
    [update(), update(crop=b"\xff\xd8jpeg"), OWN, PLATE, LOOK],
    ids=["track", "track+crop", "own-track+crop", "plate", "appearance"],
)
def test_documents_only_use_mapped_fields(event: Any) -> None:
    """Guards a document field the strict mapping would refuse (every write failing)."""
    for action, doc in rq.actions(event, "civicsight", T0):
        kind = action["index"]["_index"].removeprefix("civicsight-")
        _, body = rq.template(kind, "civicsight")
        assert set(doc) <= set(body["template"]["mappings"]["properties"]), kind


# ---- writes ----------------------------------------------------------------------------


def test_bulk_lines_have_deterministic_ids_and_external_versions() -> None:
    """Guards random ids (a replay would duplicate) and internal versions (a late,
    older event would overwrite a newer one)."""
    plan = rq.bulk_plan([update(2, b"\xff\xd8"), PLATE, LOOK], "civicsight", T0)
    heads = [line["index"] for line in plan.lines[::2]]
    assert [(h["_index"], h["_id"], h["version"], h["version_type"]) for h in heads] == [
        ("civicsight-tracks", "t-1", 2, "external"),
        ("civicsight-track-versions", "t-1:2", 2, "external"),
        ("civicsight-crops", "t-1", 2, "external"),
        ("civicsight-plate-reads", "cam-a/1:AB123CD", 875_000, "external"),
        ("civicsight-sightings", "cam-a/1", 500_000 * 10**12 + 700_000_003_000, "external"),
    ]
    assert plan.owner == [0, 0, 0, 1, 2]
    assert plan.lines == rq.bulk_plan([update(2, b"\xff\xd8"), PLATE, LOOK], "civicsight", T0).lines
    track, plate, look = plan.lines[1], plan.lines[7], plan.lines[9]
    assert track["tracklets"] == ["cam-a/1", "cam-b/4"] and track["cameras"] == ["cam-a", "cam-b"]
    assert plate["skeleton"] == "A8123C0"
    assert look["embedding"][:2] == [0.6, 0.8]  # stored unit length, like SQLite


def test_a_tracklets_own_track_also_writes_the_tracklets_crop() -> None:
    """Guards per-tracklet thumbnails keyed by something a replay changes, or ordered by
    anything but the version of the tracklet's own track."""
    plan = rq.bulk_plan([OWN, update(4, b"\xff\xd8")], "civicsight", T0)
    heads = [line["index"] for line in plan.lines[::2]]
    assert [(h["_index"], h["_id"], h["version"]) for h in heads] == [
        ("civicsight-tracks", OWN.track_id, 3),
        ("civicsight-track-versions", f"{OWN.track_id}:3", 3),
        ("civicsight-crops", OWN.track_id, 3),
        ("civicsight-tracklet-crops", "cam-a/1", 3),
        ("civicsight-tracks", "t-1", 4),
        ("civicsight-track-versions", "t-1:4", 4),
        ("civicsight-crops", "t-1", 4),  # two tracklets: no tracklet's crop
    ]
    assert plan.owner == [0, 0, 0, 0, 1, 1, 1]
    assert plan.lines[7] == {
        "tracklet": "cam-a/1",
        "track_id": OWN.track_id,
        "last_seen": T0 + 5,
        "jpeg": "/9hvd24=",
    }


def test_a_better_appearance_has_a_higher_version() -> None:
    sharper = LOOK.model_copy(update={"quality": 0.6, "captured_at": T0})
    later = LOOK.model_copy(update={"captured_at": T0 + 9})
    ranks = [rq.actions(e, "x", T0)[0][0]["index"]["version"] for e in (LOOK, later, sharper)]
    assert ranks == sorted(ranks) and len(set(ranks)) == 3


def item(status: int, error: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"status": status}
    if error:
        result["error"] = {"type": error, "reason": "bad"}
    return {"index": result}


@pytest.mark.parametrize(
    ("items", "applied", "retry", "failed"),
    [
        ([item(201), item(200)], [0, 1], [], []),
        ([item(409, "version_conflict_engine_exception")], [], [], []),  # replay: done
        ([item(201), item(429, "es_rejected_execution_exception")], [0], [1], []),
        (
            [item(400, "strict_dynamic_mapping_exception"), item(201)],
            [1],
            [],
            [
                (
                    0,
                    "400 strict_dynamic_mapping_exception: bad",
                )
            ],
        ),
        ([item(500, "illegal_state")], [], [], [(0, "500 illegal_state: bad")]),
    ],
)
def test_bulk_outcome_sorts_items(
    items: list[dict[str, Any]], applied: list[int], retry: list[int], failed: list[Any]
) -> None:
    outcome = rq.bulk_outcome({"errors": True, "items": items})
    assert (outcome.applied, outcome.retry, outcome.failed) == (applied, retry, failed)


class FakeClient:
    """Stands in for the network only: answers each bulk call with the next scripted
    list of item statuses and records what was sent."""

    def __init__(self, script: list[list[int]]) -> None:
        self.script = script
        self.sent: list[list[dict[str, Any]]] = []

    def bulk(self, operations: list[dict[str, Any]], refresh: bool) -> dict[str, Any]:
        self.sent.append(operations)
        statuses = self.script.pop(0)
        assert len(statuses) * 2 == len(operations)
        return {
            "items": [
                item(s, None if s < 300 else "strict_dynamic_mapping_exception") for s in statuses
            ]
        }

    def close(self) -> None:
        pass


def test_write_retries_429_with_backoff_and_reports_other_refusals() -> None:
    """Guards a 429 treated as a failure (data sent to the DLQ on a busy cluster), a
    retry that resends what was already stored, and refused items going unreported."""
    pauses: list[float] = []
    client = FakeClient([[201, 201, 400, 429, 201, 429], [429, 201], [201]])
    store = ElasticTrackStore("http://es", client=client, sleep=pauses.append)
    result = store.write([update(), PLATE, LOOK, update(3)], T0)
    assert pauses == [0.5, 1.0]
    assert [len(ops) // 2 for ops in client.sent] == [6, 2, 1]
    assert client.sent[1] == client.sent[0][6:8] + client.sent[0][10:12]
    assert result.failed == [(1, "400 strict_dynamic_mapping_exception: bad")]
    assert result.applied == 3  # track v2, the appearance, track v3 (its main document)


def test_write_gives_up_loudly_when_429_persists() -> None:
    """Guards an indexer that commits offsets of events the cluster never took."""
    client = FakeClient([[429]] * 4)
    store = ElasticTrackStore("http://es", client=client, retries=3, sleep=lambda _s: None)
    with pytest.raises(StoreUnavailableError):
        store.write([PLATE], T0)


def test_replayed_track_is_not_counted_as_applied() -> None:
    client = FakeClient([[409, 409]])
    assert ElasticTrackStore("http://es", client=client).write([update()], T0).applied == 0


# ---- queries ---------------------------------------------------------------------------


def test_track_search_body_orders_newest_first_and_pages_by_search_after() -> None:
    cursor = encode_cursor(T0 + 5, "t-9")
    body = rq.track_search(
        TrackQuery(cls="car", camera="cam-a", since=T0, until=T0 + 9, limit=10, cursor=cursor)
    )
    assert body == {
        "query": {
            "bool": {
                "filter": [
                    {"term": {"cls": "car"}},
                    {"term": {"cameras": "cam-a"}},
                    {"range": {"last_seen": {"gte": T0}}},
                    {"range": {"first_seen": {"lte": T0 + 9}}},
                ]
            }
        },
        "sort": [{"last_seen": "desc"}, {"track_id": "desc"}],
        "size": 11,
        "search_after": [T0 + 5, "t-9"],
    }


@pytest.mark.parametrize(
    ("query", "match"),
    [
        (PlateQuery("exact", "ab 123-cd"), {"term": {"text": "AB123CD"}}),
        (PlateQuery("pattern", "ab?12**"), {"wildcard": {"text.wild": {"value": "AB?12*"}}}),
        (PlateQuery("fuzzy", "AB123CD", 0.75), {"term": {"skeleton": "A8123C0"}}),
        (
            PlateQuery("fuzzy", "AB123CD", 1.5),
            {
                "fuzzy": {
                    "skeleton": {
                        "value": "A8123C0",
                        "fuzziness": 1,
                        "transpositions": False,
                        "max_expansions": 1000,
                    }
                }
            },
        ),
    ],
)
def test_plate_search_bodies(query: PlateQuery, match: dict[str, Any]) -> None:
    body = rq.plate_search(
        PlateQuery(query.mode, query.text, query.max_distance, "cam-a", T0, None)
    )
    assert body["query"] == {
        "bool": {
            "filter": [match, {"range": {"seen_at": {"gte": T0}}}, {"term": {"camera_id": "cam-a"}}]
        }
    }
    assert body["size"] == rq.MAX_HITS


def test_bad_pattern_is_refused_before_any_request() -> None:
    with pytest.raises(PatternError):
        rq.plate_search(PlateQuery("pattern", "*1*"))


def test_knn_body_filters_inside_the_graph_search() -> None:
    """Guards a kNN that filters after the search (too few hits) or mixes models."""
    query = SimilarQuery((1.0, 0.0), "person", "m@1", k=20, cameras=("cam-a",), until=T0)
    body = rq.knn_search(query, [1.0, 0.0])
    assert json.loads(json.dumps(body)) == {
        "knn": {
            "field": "embedding",
            "query_vector": [1.0, 0.0],
            "k": 200,
            "num_candidates": 400,
            "filter": {
                "bool": {
                    "filter": [
                        {"term": {"model": "m@1"}},
                        {"term": {"cls": "person"}},
                        {"range": {"seen_at": {"lte": T0}}},
                        {"terms": {"camera_id": ["cam-a"]}},
                    ]
                }
            },
        },
        "size": 200,
        "_source": ["tracklet", "camera_id", "seen_at", "embedding"],
    }


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("tracks", "last_seen"),
        ("crops", "last_seen"),
        ("tracklet-crops", "last_seen"),
        ("plate-reads", "seen_at"),
        ("sightings", "seen_at"),
        ("track-versions", "last_seen"),
    ],
)
def test_retention_deletes_by_time_in_every_index(kind: str, field: str) -> None:
    assert rq.purge(kind, T0) == {"query": {"range": {field: {"lt": T0}}}}


class CannedSearch:
    """Network boundary fake for reads: answers each index with canned hits and records
    the bodies it was sent."""

    def __init__(self, hits: dict[str, list[dict[str, Any]]]) -> None:
        self.hits = hits
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def search(self, index: str, **body: Any) -> dict[str, Any]:
        self.asked.append((index, body))
        found = self.hits.get(index.removeprefix("civicsight-"), [])
        return {"hits": {"total": {"value": len(found)}, "hits": [{"_source": s} for s in found]}}


def test_fuzzy_plate_hits_are_filtered_by_the_exact_distance_and_named() -> None:
    """Guards trusting the cluster's plain Levenshtein (a real 2-edit difference would
    pass as fuzzy 1) and hits without their track."""
    reads = [
        {"tracklet": "cam-a/1", "camera_id": "cam-a", "text": "A8123CD", "conf": 0.7,
         "seen_at": T0},
        {"tracklet": "cam-a/2", "camera_id": "cam-a", "text": "XB123CD", "conf": 0.9,
         "seen_at": T0 + 1},
        {"tracklet": "cam-b/3", "camera_id": "cam-b", "text": "XY123CD", "conf": 0.9,
         "seen_at": T0 + 2},
    ]  # fmt: skip
    tracks = [{"track_id": "t-1", "tracklets": ["cam-a/1", "cam-z/9"]}]
    client = CannedSearch({"plate-reads": reads, "tracks": tracks})
    store = ElasticTrackStore("http://es", client=client)
    page = store.search_plates(PlateQuery("fuzzy", "AB123CD", max_distance=1.0))
    assert [(h.text, h.distance, h.track_id) for h in page.items] == [
        ("A8123CD", 0.25, "t-1"),
        ("XB123CD", 1.0, None),
    ]
    assert client.asked[1][1]["query"]["bool"]["filter"][0]["terms"]["tracklets"] == [
        "cam-a/1",
        "cam-a/2",
        "cam-b/3",
    ]


def test_knn_hits_are_reranked_exactly_and_one_per_track() -> None:
    """Guards the int8 graph order standing in for the exact one, and a track listed
    once per camera."""
    sightings = [
        {"tracklet": "cam-a/1", "camera_id": "cam-a", "seen_at": T0, "embedding": [0.6, 0.8]},
        {"tracklet": "cam-b/1", "camera_id": "cam-b", "seen_at": T0, "embedding": [1.0, 0.0]},
        {"tracklet": "cam-c/7", "camera_id": "cam-c", "seen_at": T0, "embedding": [0.8, 0.6]},
    ]
    tracks = [{"track_id": "t-1", "tracklets": ["cam-a/1", "cam-b/1"]}]
    store = ElasticTrackStore("http://es", client=CannedSearch({"sightings": sightings,
                                                                "tracks": tracks}))  # fmt: skip
    hits = store.search_similar(SimilarQuery((1.0, 0.0), "car", "m@1", k=5))
    assert [(h.track_id, h.tracklet, h.score) for h in hits] == [
        ("t-1", "cam-b/1", 1.0),
        (None, "cam-c/7", 0.8),
    ]


class CannedDocs:
    """Network boundary fake for document reads: ``get`` and ``mget`` over canned
    documents per index; records which ids were asked for."""

    def __init__(self, docs: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.docs = docs
        self.asked: list[tuple[str, list[str]]] = []

    def _index(self, index: str) -> dict[str, dict[str, Any]]:
        return self.docs.get(index.removeprefix("civicsight-"), {})

    def get(self, index: str, id: str) -> dict[str, Any]:
        found = self._index(index).get(id)
        if found is None:
            raise NotFoundError("not found", None, {})  # type: ignore[arg-type]
        return {"_id": id, "_source": found}

    def mget(self, index: str, ids: list[str], source: bool) -> dict[str, Any]:
        self.asked.append((index, ids))
        return {"docs": [{"_id": i, "found": i in self._index(index)} for i in ids]}


def test_a_cross_camera_track_borrows_its_longest_tracklets_crop() -> None:
    """Guards cross-camera tracks (no crop of their own) listed without a picture, and
    the stand-in being a short glimpse when a longer visit was seen."""
    legs = [
        {"tracklet": "cam-a/1", "camera_id": "cam-a", "first_seen": T0, "last_seen": T0 + 5},
        {"tracklet": "cam-b/4", "camera_id": "cam-b", "first_seen": T0 + 30, "last_seen": T0 + 50},
    ]
    track = {
        "track_id": "g-1", "version": 2, "cls": "car", "cameras": ["cam-a", "cam-b"],
        "tracklets": ["cam-a/1", "cam-b/4"], "tracklet_count": 2, "legs": legs,
        "first_seen": T0, "last_seen": T0 + 50, "closed": False, "path": [],
        "has_crop": False, "emitted_at": T0 + 51, "stored_at": T0 + 52,
    }  # fmt: skip
    crops = {t: {"tracklet": t, "jpeg": "/9g" + t[4] + "AA=="} for t in ("cam-a/1", "cam-b/4")}
    client = CannedDocs({"tracks": {"g-1": track}, "tracklet-crops": crops})
    store = ElasticTrackStore("http://es", client=client)
    got = store.get("g-1")
    assert got is not None and got.has_crop and got.merged_into is None
    assert ("civicsight-tracklet-crops", ["cam-a/1", "cam-b/4"]) in client.asked
    assert store.crop("g-1") == store.tracklet_crop("cam-b/4") is not None
    assert store.tracklet_crop("cam-z/1") is None


# ---- the plate skeletons after the look-alike table changed ------------------------------


def test_plate_reads_say_which_lookalike_classes_made_their_skeletons() -> None:
    """Guards a plate-reads index whose skeletons nobody can tell apart from ones made
    with another look-alike table (fuzzy searches would then miss stored reads)."""
    _name, body = rq.template("plate-reads", "cs-x")
    assert body["template"]["mappings"]["_meta"] == {"plate_skeleton": SKELETON_KEY}
    script = rq.reskeleton()["script"]
    assert script["params"]["skeleton"] == SKELETON
    assert "ctx.op = 'noop'" in script["source"]  # reads already right keep their version


class IndexClient:
    """Stands in for the network when the store opens: answers the mapping it is given
    and records the calls."""

    def __init__(self, meta: dict[str, Any] | None) -> None:
        self.meta = meta
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.indices = self
        self.ilm = self

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            if name == "exists":
                return True
            if name == "get_mapping":
                mappings = {} if self.meta is None else {"_meta": self.meta}
                return {kwargs["index"]: {"mappings": mappings}}
            return {}

        return call


@pytest.mark.parametrize(
    ("meta", "rebuilt"),
    [
        (None, True),  # made before the mapping said
        ({"plate_skeleton": "0ODQ,1I,2Z,5S,6G,8B"}, True),  # made with another table
        ({"plate_skeleton": SKELETON_KEY}, False),
    ],
)
def test_open_sets_stale_skeletons_again(meta: dict[str, Any] | None, rebuilt: bool) -> None:
    """Guards fuzzy searches missing reads stored before the look-alike table changed,
    and a reindex of every read at every start."""
    client = IndexClient(meta)
    ElasticTrackStore("http://es", prefix="cs-x", client=client).open()
    names = [name for name, _ in client.calls]
    assert ("update_by_query" in names) is rebuilt
    if rebuilt:
        (update_call,) = [kw for name, kw in client.calls if name == "update_by_query"]
        assert update_call["index"] == "cs-x-plate-reads"
        assert update_call["script"] == rq.reskeleton()["script"]
        assert update_call["wait_for_completion"] is True
        assert names.index("update_by_query") < names.index("put_mapping")
        (mapping_call,) = [kw for name, kw in client.calls if name == "put_mapping"]
        assert mapping_call == {"index": "cs-x-plate-reads", "meta": rq.skeleton_meta()}
