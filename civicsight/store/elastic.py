"""Elasticsearch 8/9 track store: the only module that imports ``elasticsearch``.

The official 8.x client speaks to Elasticsearch 8 and 9. Every request body comes from
``es_requests.py`` (unit-tested there; no Elasticsearch server runs on the CI machines).
What is left here is small on purpose: send the bodies, retry bulk items refused with
429 (exponential backoff), hand other refused items back as failures for the DLQ, and
turn responses into the store's domain values with the same shared code as SQLite
(``plate_page``, ``history``, ``rerank``). The traffic rows' requests are in
``traffic_es.py`` (mixed in).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from elasticsearch import Elasticsearch, NotFoundError

from civicsight.plate_text import PatternError, check_plate
from civicsight.store import (
    BadCursorError,
    Indexed,
    Page,
    PlateHit,
    PlatePage,
    PlateQuery,
    PlateReadOut,
    Sighting,
    SimilarHit,
    SimilarQuery,
    StoredTrack,
    TrackDetail,
    TrackQuery,
    WriteResult,
    crop_stand_in,
    encode_cursor,
    history,
    plate_page,
    traffic_es,
)
from civicsight.store import es_requests as rq
from civicsight.store.journeys_es import ElasticJourneys
from civicsight.store.plates import ocr_distance
from civicsight.store.traffic_es import ElasticTraffic
from civicsight.store.vectors import rerank, unit


class StoreUnavailableError(RuntimeError):
    """Bulk items still refused with 429 after every retry: nothing may be committed."""


class ElasticTrackStore(ElasticJourneys, ElasticTraffic):
    """Also the traffic source: journeys and origin-destination (``ElasticJourneys``),
    the stream app's bins (``ElasticTraffic``)."""

    def __init__(
        self,
        url: str,
        prefix: str = "civicsight",
        vector_dims: int = 256,
        refresh: bool = False,
        retries: int = 8,
        backoff_s: float = 0.5,
        client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        ca_certs: str | None = None,
    ) -> None:
        self.url = url
        self.ca_certs = ca_certs
        self.prefix = prefix
        self.vector_dims = vector_dims
        self.refresh = refresh
        self.retries = retries
        self.backoff_s = backoff_s
        self._client = client
        self._sleep = sleep

    @property
    def es(self) -> Any:
        if self._client is None:
            raise RuntimeError("ElasticTrackStore is not open")
        return self._client

    def _index(self, kind: str) -> str:
        return rq.index_name(self.prefix, kind)

    def open(self) -> None:
        """Connect, and put the ILM policies, the templates and the indices."""
        if self._client is None:
            if self.ca_certs:
                self._client = Elasticsearch(self.url, request_timeout=30, ca_certs=self.ca_certs)
            else:
                self._client = Elasticsearch(self.url, request_timeout=30)
        for name in rq.POLICIES:
            policy_name, body = rq.policy(name, self.prefix)
            self.es.ilm.put_lifecycle(name=policy_name, policy=body["policy"])
        traffic = [traffic_es.index_kind(k) for k in traffic_es.KINDS]
        for kind in (*rq.INDICES, "audit", *traffic):
            name, body = rq.template(kind, self.prefix, self.vector_dims)
            self.es.indices.put_index_template(name=name, **body)
        for kind in (*rq.INDICES, *traffic):
            if not self.es.indices.exists(index=self._index(kind)):
                self.es.indices.create(index=self._index(kind))
        self._open_journeys()
        self._index_plates()

    def _index_plates(self) -> None:
        """Set the skeletons of stored plate reads again when they were made with other
        look-alike classes (the table in ``civicsight.plate_text`` changed): fuzzy
        searches would miss them. A read whose skeleton changes gets a version one higher
        (one millionth of confidence, see ``plate_rank``)."""
        index = self._index("plate-reads")
        mappings = self.es.indices.get_mapping(index=index)
        wanted = rq.skeleton_meta()
        if all(m["mappings"].get("_meta") == wanted for m in dict(mappings).values()):
            return
        self.es.update_by_query(
            index=index,
            conflicts="proceed",
            refresh=True,
            wait_for_completion=True,
            **rq.reskeleton(),
        )
        self.es.indices.put_mapping(index=index, meta=wanted)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def drop(self) -> None:
        """Delete this prefix's indices and templates (tests)."""
        traffic = [traffic_es.index_kind(k) for k in traffic_es.KINDS]
        for kind in (*rq.INDICES, *traffic):
            self.es.indices.delete(index=self._index(kind), ignore_unavailable=True)
        for kind in (*rq.INDICES, "audit", *traffic):
            self.es.indices.delete_index_template(name=f"{self.prefix}-{kind}")
        self._drop_journeys()

    # ---- writes ---------------------------------------------------------------------

    def upsert(self, update: Any, stored_at: float) -> bool:
        return self.write([update], stored_at).applied == 1

    def write(self, events: Sequence[Indexed], stored_at: float) -> WriteResult:
        """Bulk-index the batch. Items refused with 429 are sent again after a growing
        pause; other refusals come back in ``failed`` with their reason. Returns only
        when every item is resolved (or raises ``StoreUnavailableError``)."""
        plan = rq.bulk_plan(events, self.prefix, stored_at)
        applied_pos, failed_pos = self._bulk(plan.lines)
        failed: dict[int, str] = {}
        for pos, reason in sorted(failed_pos.items()):
            failed.setdefault(plan.owner[pos], reason)
        first = {plan.owner.index(i) for i in set(plan.owner)}  # the event's main document
        counted = {plan.owner[pos] for pos in applied_pos if pos in first}
        return WriteResult(len(counted - set(failed)), sorted(failed.items()))

    def _bulk(self, lines: Sequence[rq.Body]) -> tuple[set[int], dict[int, str]]:
        """Send bulk (action, document) lines; (positions applied, position -> reason of
        those refused). Actions refused with 429 are sent again after a growing pause;
        raises ``StoreUnavailableError`` when some still are after every retry."""
        todo = list(range(len(lines) // 2))
        applied: set[int] = set()
        failed: dict[int, str] = {}
        for attempt in range(self.retries + 1):
            batch = [line for pos in todo for line in lines[2 * pos : 2 * pos + 2]]
            response = self.es.bulk(operations=batch, refresh=self.refresh)
            outcome = rq.bulk_outcome(dict(response))
            applied.update(todo[i] for i in outcome.applied)
            for i, reason in outcome.failed:
                failed[todo[i]] = reason
            todo = [todo[i] for i in outcome.retry]
            if not todo:
                break
            if attempt < self.retries:
                self._sleep(self.backoff_s * 2**attempt)
        else:
            raise StoreUnavailableError(
                f"{len(todo)} bulk items still refused with 429 after {self.retries} retries"
            )
        return applied, failed

    # ---- tracks ---------------------------------------------------------------------

    @staticmethod
    def _track(src: dict[str, Any]) -> StoredTrack:
        return StoredTrack(
            track_id=src["track_id"],
            version=src["version"],
            cls=src["cls"],
            cameras=tuple(src["cameras"]),
            tracklets=src["tracklet_count"],
            first_seen=src["first_seen"],
            last_seen=src["last_seen"],
            closed=src["closed"],
            path=tuple(tuple(p) for p in src["path"]),
            has_crop=src["has_crop"],
            stored_at=src["stored_at"],
            merged_into=src.get("merged_into"),
        )

    def _source(self, kind: str, doc_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.es.get(index=self._index(kind), id=doc_id)["_source"])
        except NotFoundError:
            return None

    def _found(self, kind: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` have a document in the index (no sources fetched)."""
        if not ids:
            return set()
        got = self.es.mget(index=self._index(kind), ids=list(ids), source=False)
        return {d["_id"] for d in got["docs"] if d.get("found")}

    def _with_crops(self, sources: list[dict[str, Any]]) -> list[StoredTrack]:
        """A later version without a crop keeps the earlier crop (its own index); a track
        without one of its own has a crop when one of its tracklets has."""
        have = self._found("crops", [s["track_id"] for s in sources if not s["has_crop"]])
        sources = [{**s, "has_crop": s["has_crop"] or s["track_id"] in have} for s in sources]
        legs = sorted({t for s in sources if not s["has_crop"] for t in s["tracklets"]})
        cropped = self._found("tracklet-crops", legs)
        sources = [
            {**s, "has_crop": s["has_crop"] or bool(cropped & set(s["tracklets"]))} for s in sources
        ]
        return [self._track(s) for s in sources]

    def get(self, track_id: str) -> StoredTrack | None:
        src = self._source("tracks", track_id)
        return None if src is None else self._with_crops([src])[0]

    def crop(self, track_id: str) -> bytes | None:
        src = self._source("crops", track_id)
        if src:
            return base64.b64decode(src["jpeg"])
        stand_in = crop_stand_in(self._legs(self._source("tracks", track_id) or {}))
        return None if stand_in is None else self.tracklet_crop(stand_in.tracklet)

    def tracklet_crop(self, tracklet: str) -> bytes | None:
        src = self._source("tracklet-crops", tracklet)
        return base64.b64decode(src["jpeg"]) if src else None

    def _legs(self, src: dict[str, Any]) -> list[Sighting]:
        """A stored track's tracklets in time order, each with whether its crop is stored."""
        legs = sorted(src.get("legs", []), key=lambda leg: (leg["first_seen"], leg["tracklet"]))
        cropped = self._found("tracklet-crops", [leg["tracklet"] for leg in legs])
        return [Sighting(**leg, has_crop=leg["tracklet"] in cropped) for leg in legs]

    def _hits(self, kind: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            h["_source"] for h in self.es.search(index=self._index(kind), **body)["hits"]["hits"]
        ]

    def search(self, query: TrackQuery) -> Page:
        try:
            body = rq.track_search(query)
        except ValueError as err:
            raise BadCursorError("invalid cursor") from err
        found = self._with_crops(self._hits("tracks", body))
        items = found[: query.limit]
        more = len(found) > query.limit
        return Page(items, encode_cursor(items[-1].last_seen, items[-1].track_id) if more else None)

    def _track_of(self, tracklets: Sequence[str]) -> dict[str, str]:
        if not tracklets:
            return {}
        out: dict[str, str] = {}
        for src in self._hits("tracks", rq.tracks_of(tracklets)):
            for name in src["tracklets"]:
                out.setdefault(name, src["track_id"])
        return out

    def detail(self, track_id: str) -> TrackDetail | None:
        track = self.get(track_id)
        if track is None:
            return None
        legs = self._legs(self._source("tracks", track_id) or {})
        reads = self._hits("plate-reads", rq.reads_of([leg.tracklet for leg in legs]))
        versions = self._hits("track-versions", rq.versions_of(track_id))
        return TrackDetail(
            track=track,
            trajectory=legs,
            plate_reads=[PlateReadOut(**r) for r in reads],
            history=history(
                [(v["version"], v["emitted_at"], tuple(v["tracklets"])) for v in versions]
            ),
        )

    # ---- plates and appearances -----------------------------------------------------

    def search_plates(self, query: PlateQuery) -> PlatePage:
        body = rq.plate_search(query)
        response = self.es.search(index=self._index("plate-reads"), **body)
        if response["hits"]["total"]["value"] > rq.MAX_HITS:
            raise PatternError(f"more than {rq.MAX_HITS} plate reads match: give more characters")
        reads = [h["_source"] for h in response["hits"]["hits"]]
        plate = check_plate(query.text) if query.mode != "pattern" else ""
        tracks = self._track_of([r["tracklet"] for r in reads])
        hits = []
        for r in reads:
            distance = ocr_distance(plate, r["text"]) if query.mode == "fuzzy" else 0.0
            if distance <= query.max_distance:
                hits.append(PlateHit(track_id=tracks.get(r["tracklet"]), distance=distance, **r))
        return plate_page(hits, query)

    def search_similar(self, query: SimilarQuery) -> list[SimilarHit]:
        vector = unit(np.asarray(query.vector, np.float32))
        found = self._hits("sightings", rq.knn_search(query, vector.tolist()))
        tracks = self._track_of([s["tracklet"] for s in found])
        return rerank(
            vector,
            [
                (
                    s["tracklet"],
                    s["camera_id"],
                    s["seen_at"],
                    np.asarray(s["embedding"], np.float32),
                    tracks.get(s["tracklet"]),
                )
                for s in found
            ],
            query.cls,
            query.k,
        )

    def warm(self) -> int:
        return 0  # the cluster keeps its own graphs

    def save_index(self, force: bool = False) -> bool:
        return False  # ditto

    data_classes: tuple[str, ...] = ("tracks", "plates_non_hit", "appearances", "traffic")

    def purge(self, data_class: str, before: float) -> int:
        """Retention by delete-by-query (ILM deletes whole indices on top of this)."""
        if data_class == "traffic":
            return self._purge_traffic(before)
        kinds = {
            "tracks": ("tracks", "track-versions", "crops", "tracklet-crops"),
            "plates_non_hit": ("plate-reads",),
            "appearances": ("sightings",),
        }.get(data_class)
        if kinds is None:
            raise ValueError(f"this store holds no {data_class!r}")
        gone = 0
        for kind in kinds:
            response = self.es.delete_by_query(
                index=self._index(kind), refresh=True, conflicts="proceed", **rq.purge(kind, before)
            )
            gone = gone or int(response["deleted"])
        return gone

    def purge_before(self, cutoff: float) -> int:
        gone = 0
        for kind in rq.INDICES:
            response = self.es.delete_by_query(
                index=self._index(kind), refresh=True, conflicts="proceed", **rq.purge(kind, cutoff)
            )
            if kind == "tracks":
                gone = int(response["deleted"])
        return gone
