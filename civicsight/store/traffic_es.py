"""The traffic rows in Elasticsearch: one index per kind of row,
``<prefix>-traffic-<kind>`` (templates ``templates/template-traffic-<kind>.json``: the row's
fields and ``stored_at``, strict), written by the indexer and read by the API and the
exports.

The document id is the row's key (``civicsight.traffic.row_key``), so a row written again
replaces the stored one (a recount overwrites, never adds). Writes carry no external
version: ``TrafficBins`` of one camera arrive in order on one partition, and the last
written is the newest. Reads page through the hits in bin order, then by key
(``search_after``). Retention (data class ``traffic``) deletes bins that started before
the cut-off by query.

The request bodies are built here as plain data and unit-tested exactly
(``tests/unit/civicsight/store/test_traffic_es.py``): no Elasticsearch server can run on
the CI machines. ``ElasticTraffic`` (mixed into ``ElasticTrackStore``, the only module that
imports the client) sends them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from civicsight.traffic import (
    KEY_FIELDS,
    ROW_TYPES,
    CameraBin,
    CountBin,
    RowKind,
    SpeedBin,
    TrafficQuery,
    TrafficRow,
    TurnBin,
    ZoneBin,
    row_key,
    row_kind,
)

Body = dict[str, Any]
KINDS: tuple[RowKind, ...] = tuple(ROW_TYPES)
PAGE = 5000
"""Rows per search request while reading."""


class TrafficWriteError(RuntimeError):
    """Rows the cluster refused (other than 429, which is retried): the message is
    dead-lettered with this reason."""


def index_kind(kind: RowKind) -> str:
    """The index kind (``traffic-counts``): with the prefix, the index name."""
    return f"traffic-{kind}"


def index_name(prefix: str, kind: RowKind) -> str:
    return f"{prefix}-{index_kind(kind)}"


def actions(rows: Sequence[TrafficRow], prefix: str, stored_at: float) -> list[Body]:
    """Bulk lines (action, document, action, document, ...) that write ``rows``."""
    lines: list[Body] = []
    for row in rows:
        kind = row_kind(row)
        lines.append({"index": {"_index": index_name(prefix, kind), "_id": row_key(row)}})
        lines.append({**row.model_dump(mode="json"), "stored_at": stored_at})
    return lines


def search(kind: RowKind, query: TrafficQuery, after: list[Any] | None = None) -> Body:
    """One page of rows of ``kind`` whose bin starts in ``[since, until)``, in bin order,
    then by key; ``after`` is the last hit's ``sort`` of the page before."""
    filters: list[Body] = [
        {"range": {"bin_start": {"gte": query.since, "lt": query.until, "format": "epoch_second"}}}
    ]
    if query.camera is not None:
        filters.append({"term": {"camera": query.camera}})
    if query.cls is not None and kind != "cameras":
        filters.append({"term": {"cls": query.cls}})
    body: Body = {
        "query": {"bool": {"filter": filters}},
        "sort": [{"bin_start": "asc"}, *({f: "asc"} for f in KEY_FIELDS[kind])],
        "size": PAGE,
        "_source": list(ROW_TYPES[kind].model_fields),
    }
    if after is not None:
        body["search_after"] = after
    return body


def purge(cutoff: float) -> Body:
    """Retention: the delete-by-query body for bins that started before ``cutoff``."""
    return {"query": {"range": {"bin_start": {"lt": cutoff, "format": "epoch_second"}}}}


class ElasticTraffic:
    """``write_traffic`` and the ``TrafficSource`` readers of the stream app's rows, sent
    through the store's client (``es``) and bulk helper (``_bulk``)."""

    prefix: str

    @property
    def es(self) -> Any:
        raise NotImplementedError  # the store this is mixed into holds the client

    def _bulk(self, lines: Sequence[Body]) -> tuple[set[int], dict[int, str]]:
        raise NotImplementedError  # the store's bulk sender, with its retries

    def write_traffic(self, rows: Sequence[TrafficRow], stored_at: float) -> int:
        """Index ``rows`` (each over the document of its key); how many were written.
        Raises ``TrafficWriteError`` naming the first refusal when the cluster refused
        some (the others are written)."""
        if not rows:
            return 0
        applied, failed = self._bulk(actions(rows, self.prefix, stored_at))
        if failed:
            pos, reason = min(failed.items())
            raise TrafficWriteError(
                f"{len(failed)} of {len(rows)} traffic rows refused; {row_key(rows[pos])}: {reason}"
            )
        return len(applied)

    def _traffic(self, kind: RowKind, query: TrafficQuery) -> list[Any]:
        model = ROW_TYPES[kind]
        out: list[Any] = []
        after: list[Any] | None = None
        while True:
            hits = self.es.search(index=index_name(self.prefix, kind), **search(kind, query, after))
            page = hits["hits"]["hits"]
            out.extend(model.model_validate(h["_source"]) for h in page)
            if len(page) < PAGE:
                return out
            after = list(page[-1]["sort"])

    def camera_bins(self, query: TrafficQuery) -> list[CameraBin]:
        """Whether each camera worked, per bin (``query.cls`` does not apply)."""
        return self._traffic("cameras", query)

    def counts(self, query: TrafficQuery) -> list[CountBin]:
        return self._traffic("counts", query)

    def zones(self, query: TrafficQuery) -> list[ZoneBin]:
        return self._traffic("zones", query)

    def turns(self, query: TrafficQuery) -> list[TurnBin]:
        return self._traffic("turns", query)

    def speeds(self, query: TrafficQuery) -> list[SpeedBin]:
        return self._traffic("speeds", query)

    def _purge_traffic(self, cutoff: float) -> int:
        """Delete the bins that started before ``cutoff``; returns how many camera bins."""
        gone = 0
        for kind in KINDS:
            response = self.es.delete_by_query(
                index=index_name(self.prefix, kind),
                refresh=True,
                conflicts="proceed",
                **purge(cutoff),
            )
            if kind == "cameras":
                gone = int(response["deleted"])
        return gone
