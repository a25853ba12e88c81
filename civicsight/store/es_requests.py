"""The exact requests the Elasticsearch store sends, as plain data (no client here).

Kept apart from ``elastic.py`` so that unit tests can check every body on machines where
no Elasticsearch server can run. Index templates and ILM policies are the JSON files in
``civicsight/store/templates/``; names there start with ``civicsight``, which ``prefix`` replaces.

Writes: every document has a deterministic ``_id`` and an external version, so a
replayed or late event is refused by the cluster (409) instead of duplicating or
regressing a document:

| index | _id | external version |
| --- | --- | --- |
| tracks | track id | track version |
| track-versions | track id:version | track version |
| crops | track id | track version (only updates that carry a crop) |
| tracklet-crops | tracklet id | version of the tracklet's own track (``tracklet_crop_of``) |
| sightings | tracklet id | ``appearance_rank`` (best crop wins) |
| plate-reads | tracklet id:text | ``plate_rank`` (best confidence wins) |
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from civicsight.events import Appearance, PlateRead, TrackUpdate, tracklet_id
from civicsight.plate_text import SKELETON, SKELETON_KEY, PlatePattern, check_plate, skeleton
from civicsight.resources import package_path
from civicsight.store import (
    Indexed,
    PlateQuery,
    SimilarQuery,
    TrackQuery,
    appearance_rank,
    decode_cursor,
    plate_rank,
    tracklet_crop_of,
)
from civicsight.store.plates import MAX_FUZZY

INFRA = package_path("civicsight.store", "templates")
INDICES = ("tracks", "track-versions", "crops", "tracklet-crops", "sightings", "plate-reads")
POLICIES = ("civicsight-data", "civicsight-audit")
MAX_HITS = 10_000  # a plate query with more matching reads is too broad
OVERSAMPLE = 10
MIN_CANDIDATES = 200

Body = dict[str, Any]


def index_name(prefix: str, kind: str) -> str:
    return f"{prefix}-{kind}"


def _renamed(text: str, prefix: str) -> Body:
    body: Body = json.loads(text.replace('"civicsight-', f'"{prefix}-'))
    return body


def policy(name: str, prefix: str) -> tuple[str, Body]:
    """(policy name, body) of ``ilm-<name>.json``."""
    body = _renamed((INFRA / f"ilm-{name}.json").read_text(), prefix)
    return name.replace("civicsight", prefix, 1), body


def template(kind: str, prefix: str, vector_dims: int = 256) -> tuple[str, Body]:
    """(template name, body) of ``template-<kind>.json``, for indices named by ``prefix``."""
    body = _renamed((INFRA / f"template-{kind}.json").read_text(), prefix)
    if kind == "sightings":
        body["template"]["mappings"]["properties"]["embedding"]["dims"] = vector_dims
    if kind == "plate-reads":
        body["template"]["mappings"]["_meta"] = skeleton_meta()
    return f"{prefix}-{kind}", body


def skeleton_meta() -> Body:
    """The plate-reads mapping's ``_meta``: the look-alike classes its skeletons use."""
    return {"plate_skeleton": SKELETON_KEY}


RESKELETON = """
String text = ctx._source.text;
StringBuilder out = new StringBuilder();
for (int i = 0; i < text.length(); ++i) {
  String c = text.substring(i, i + 1);
  out.append(params.skeleton.getOrDefault(c, c));
}
String built = out.toString();
if (built.equals(ctx._source.skeleton)) { ctx.op = 'noop'; } else { ctx._source.skeleton = built; }
"""


def reskeleton() -> Body:
    """``update_by_query`` body that sets every plate read's ``skeleton`` from its text with
    the current look-alike classes (reads already right are left alone: no new version)."""
    return {
        "query": {"match_all": {}},
        "script": {
            "lang": "painless",
            "source": RESKELETON.strip(),
            "params": {"skeleton": dict(sorted(SKELETON.items()))},
        },
    }


# ---- writes --------------------------------------------------------------------------


def _action(index: str, doc_id: str, version: int) -> Body:
    return {
        "index": {"_index": index, "_id": doc_id, "version": version, "version_type": "external"}
    }


def actions(event: Indexed, prefix: str, stored_at: float) -> list[tuple[Body, Body]]:
    """The bulk (action, document) pairs for one event."""
    if isinstance(event, TrackUpdate):
        names = sorted(tracklet_id(t.camera_id, t.track_id) for t in event.tracklets)
        legs = [
            {
                "tracklet": tracklet_id(t.camera_id, t.track_id),
                "camera_id": t.camera_id,
                "first_seen": t.first_seen,
                "last_seen": t.last_seen,
            }
            for t in event.tracklets
        ]
        out = [
            (
                _action(index_name(prefix, "tracks"), event.track_id, event.version),
                {
                    "track_id": event.track_id,
                    "version": event.version,
                    "cls": event.cls,
                    "cameras": list(event.cameras),
                    "tracklets": names,
                    "tracklet_count": len(event.tracklets),
                    "legs": legs,
                    "first_seen": event.first_seen,
                    "last_seen": event.last_seen,
                    "closed": event.closed,
                    "path": [list(p) for p in event.path],
                    "has_crop": event.best_crop_jpeg is not None,
                    "emitted_at": event.emitted_at,
                    "stored_at": stored_at,
                    "merged_into": event.merged_into,
                },
            ),
            (
                _action(
                    index_name(prefix, "track-versions"),
                    f"{event.track_id}:{event.version}",
                    event.version,
                ),
                {
                    "track_id": event.track_id,
                    "version": event.version,
                    "emitted_at": event.emitted_at,
                    "last_seen": event.last_seen,
                    "stored_at": stored_at,
                    "closed": event.closed,
                    "tracklets": names,
                },
            ),
        ]
        if event.best_crop_jpeg is not None:
            out.append(
                (
                    _action(index_name(prefix, "crops"), event.track_id, event.version),
                    {
                        "track_id": event.track_id,
                        "last_seen": event.last_seen,
                        "jpeg": base64.b64encode(event.best_crop_jpeg).decode(),
                    },
                )
            )
        own = tracklet_crop_of(event)
        if own is not None:
            tracklet, jpeg = own
            out.append(
                (
                    _action(index_name(prefix, "tracklet-crops"), tracklet, event.version),
                    {
                        "tracklet": tracklet,
                        "track_id": event.track_id,
                        "last_seen": event.last_seen,
                        "jpeg": base64.b64encode(jpeg).decode(),
                    },
                )
            )
        return out
    if isinstance(event, PlateRead):
        return [
            (
                _action(
                    index_name(prefix, "plate-reads"),
                    f"{event.tracklet_id}:{event.text}",
                    plate_rank(event.conf),
                ),
                {
                    "tracklet": event.tracklet_id,
                    "camera_id": event.camera_id,
                    "text": event.text,
                    "skeleton": skeleton(event.text),
                    "conf": event.conf,
                    "seen_at": event.captured_at,
                },
            )
        ]
    assert isinstance(event, Appearance)
    norm = math.sqrt(sum(v * v for v in event.embedding)) or 1.0
    return [
        (
            _action(
                index_name(prefix, "sightings"),
                event.tracklet_id,
                appearance_rank(event.quality, event.captured_at),
            ),
            {
                "tracklet": event.tracklet_id,
                "camera_id": event.camera_id,
                "cls": event.cls,
                "model": event.model,
                "seen_at": event.captured_at,
                "quality": event.quality,
                "embedding": [v / norm for v in event.embedding],
            },
        )
    ]


@dataclass(frozen=True)
class BulkPlan:
    """Bulk lines for a batch of events, and which event each action came from."""

    lines: list[Body]
    owner: list[int]


def bulk_plan(events: Sequence[Indexed], prefix: str, stored_at: float) -> BulkPlan:
    lines: list[Body] = []
    owner: list[int] = []
    for i, event in enumerate(events):
        for action, doc in actions(event, prefix, stored_at):
            lines += [action, doc]
            owner.append(i)
    return BulkPlan(lines, owner)


@dataclass(frozen=True)
class BulkOutcome:
    """Per-item results of one bulk call: ``retry`` holds the action positions refused
    with 429 (to send again after a backoff), ``failed`` the other refusals with their
    reason (their events go to the DLQ); a 409 is a replay or an older version: done."""

    applied: list[int]
    retry: list[int]
    failed: list[tuple[int, str]]


def bulk_outcome(response: Body) -> BulkOutcome:
    applied: list[int] = []
    retry: list[int] = []
    failed: list[tuple[int, str]] = []
    for pos, item in enumerate(response.get("items", [])):
        result = next(iter(item.values()))
        status = int(result.get("status", 500))
        if status < 300:
            applied.append(pos)
        elif status == 409:
            continue
        elif status == 429:
            retry.append(pos)
        else:
            error = result.get("error") or {}
            reason = f"{status} {error.get('type', 'error')}: {error.get('reason', '')}"
            failed.append((pos, reason.strip()))
    return BulkOutcome(applied, retry, failed)


# ---- reads ---------------------------------------------------------------------------


def _range(field: str, since: float | None, until: float | None) -> list[Body]:
    bounds: Body = {}
    if since is not None:
        bounds["gte"] = since
    if until is not None:
        bounds["lte"] = until
    return [{"range": {field: bounds}}] if bounds else []


def track_search(query: TrackQuery) -> Body:
    """Newest first (last_seen, then track id, both descending), like SQLite."""
    filters: list[Body] = []
    if query.cls:
        filters.append({"term": {"cls": query.cls}})
    if query.camera:
        filters.append({"term": {"cameras": query.camera}})
    if query.since is not None:
        filters.append({"range": {"last_seen": {"gte": query.since}}})
    if query.until is not None:
        filters.append({"range": {"first_seen": {"lte": query.until}}})
    body: Body = {
        "query": {"bool": {"filter": filters}},
        "sort": [{"last_seen": "desc"}, {"track_id": "desc"}],
        "size": query.limit + 1,
    }
    if query.cursor:
        body["search_after"] = list(decode_cursor(query.cursor))
    return body


def plate_search(query: PlateQuery) -> Body:
    """Candidate reads: the store computes distances, order and pages itself (shared
    with SQLite). Fuzzy asks the skeleton (OCR confusions cost nothing there) within
    the whole number of real edits allowed; the exact distance filters after."""
    if query.mode == "exact":
        match: Body = {"term": {"text": check_plate(query.text)}}
    elif query.mode == "pattern":
        match = {"wildcard": {"text.wild": {"value": PlatePattern.parse(query.text).glob}}}
    else:
        plate = check_plate(query.text)
        edits = math.floor(min(query.max_distance, MAX_FUZZY))
        match = (
            {"term": {"skeleton": skeleton(plate)}}
            if edits == 0
            else {
                "fuzzy": {
                    "skeleton": {
                        "value": skeleton(plate),
                        "fuzziness": edits,
                        "transpositions": False,
                        "max_expansions": 1000,
                    }
                }
            }
        )
    filters: list[Body] = [match, *_range("seen_at", query.since, query.until)]
    if query.camera:
        filters.append({"term": {"camera_id": query.camera}})
    return {
        "query": {"bool": {"filter": filters}},
        "size": MAX_HITS,
        "track_total_hits": MAX_HITS + 1,
        "_source": ["tracklet", "camera_id", "text", "conf", "seen_at"],
    }


def tracks_of(tracklets: Sequence[str]) -> Body:
    """Which track each tracklet belongs to (the latest one if two still name it)."""
    return {
        "query": {"bool": {"filter": [{"terms": {"tracklets": sorted(set(tracklets))}}]}},
        "sort": [{"last_seen": "desc"}, {"track_id": "asc"}],
        "size": MAX_HITS,
        "_source": ["track_id", "tracklets"],
    }


def knn_search(query: SimilarQuery, vector: Sequence[float]) -> Body:
    """HNSW candidates with the filters applied inside the graph search; the store
    re-ranks them exactly with the returned float vectors."""
    want = max(MIN_CANDIDATES, OVERSAMPLE * query.k)
    filters: list[Body] = [
        {"term": {"model": query.model}},
        {"term": {"cls": query.cls}},
        *_range("seen_at", query.since, query.until),
    ]
    if query.cameras:
        filters.append({"terms": {"camera_id": list(query.cameras)}})
    return {
        "knn": {
            "field": "embedding",
            "query_vector": list(vector),
            "k": want,
            "num_candidates": min(10_000, 2 * want),
            "filter": {"bool": {"filter": filters}},
        },
        "size": want,
        "_source": ["tracklet", "camera_id", "seen_at", "embedding"],
    }


def versions_of(track_id: str) -> Body:
    return {
        "query": {"bool": {"filter": [{"term": {"track_id": track_id}}]}},
        "sort": [{"version": "asc"}],
        "size": MAX_HITS,
        "_source": ["version", "emitted_at", "tracklets"],
    }


def reads_of(tracklets: Sequence[str]) -> Body:
    return {
        "query": {"bool": {"filter": [{"terms": {"tracklet": list(tracklets)}}]}},
        "sort": [{"seen_at": "asc"}, {"conf": "desc"}, {"text": "asc"}],
        "size": MAX_HITS,
        "_source": ["tracklet", "camera_id", "text", "conf", "seen_at"],
    }


def purge(kind: str, cutoff: float) -> Body:
    """Retention: the delete-by-query body for one index."""
    by_last_seen = ("tracks", "track-versions", "crops", "tracklet-crops")
    field = "last_seen" if kind in by_last_seen else "seen_at"
    return {"query": {"range": {field: {"lt": cutoff}}}}
