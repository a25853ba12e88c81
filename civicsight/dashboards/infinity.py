"""The Infinity data source's query (``yesoreyeram-infinity-datasource``), typed like the
SDK's own: grafana-foundation-sdk ships no model for this plugin, so this module gives
one, in the SDK's shape (a ``Dataquery`` variant with ``to_json`` and ``from_json``, a
builder), and registers it with the SDK's runtime so dashboards decode it as this class.

Only what the hub's traffic routes need: a JSON GET on the data source's base URL (the
hub, set in provisioning) with query parameters, its ``rows`` array as a table, typed
columns, the backend parser (so alerting and public dashboards work too). ``from_json``
refuses any other key: a dashboard edited by hand with a field this model does not know
fails the round trip in the tests instead of being carried along unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

PLUGIN = "yesoreyeram-infinity-datasource"
ColumnType = Literal["string", "number", "timestamp", "timestamp_epoch", "timestamp_epoch_s"]
KEYS = frozenset(
    {
        "refId",
        "datasource",
        "type",
        "source",
        "format",
        "parser",
        "url",
        "url_options",
        "root_selector",
        "columns",
        "filters",
    }
)


@dataclass
class Column:
    """One column of the table: a JSON field (``selector``), its title and type."""

    selector: str
    text: str
    type: ColumnType = "string"

    def to_json(self) -> dict[str, object]:
        return {"selector": self.selector, "text": self.text, "type": self.type}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        _only(data, {"selector", "text", "type"}, "column")
        return cls(data["selector"], data["text"], data.get("type", "string"))


@dataclass
class Dataquery(cogvariants.Dataquery):
    """A JSON GET of ``url`` (relative to the data source's URL) with ``params``; the
    array at ``root_selector`` becomes a table of ``columns``."""

    ref_id: str = ""
    url: str = ""
    params: list[tuple[str, str]] = field(default_factory=list)
    root_selector: str = ""
    columns: list[Column] = field(default_factory=list)
    datasource: DataSourceRef | None = None
    format: Literal["table", "timeseries"] = "table"

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "refId": self.ref_id,
            "type": "json",
            "source": "url",
            "format": self.format,
            "parser": "backend",
            "url": self.url,
            "url_options": {
                "method": "GET",
                "params": [{"key": k, "value": v} for k, v in self.params],
            },
            "root_selector": self.root_selector,
            "columns": self.columns,
            "filters": [],
        }
        if self.datasource is not None:
            out["datasource"] = self.datasource
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        _only(data, KEYS, "Infinity query")
        fixed = {"type": "json", "source": "url", "parser": "backend", "filters": []}
        for key, want in fixed.items():
            if data.get(key, want) != want:
                raise ValueError(f"Infinity query: {key} {data[key]!r}, this model has {want!r}")
        options = data.get("url_options", {})
        _only(options, {"method", "params"}, "url_options")
        if options.get("method", "GET") != "GET":
            raise ValueError("Infinity query: only GET")
        params = [(p["key"], p["value"]) for p in options.get("params", [])]
        ds = data.get("datasource")
        return cls(
            ref_id=data.get("refId", ""),
            url=data.get("url", ""),
            params=params,
            root_selector=data.get("root_selector", ""),
            columns=[Column.from_json(c) for c in data.get("columns", [])],
            datasource=DataSourceRef.from_json(ds) if ds is not None else None,
            format=data.get("format", "table"),
        )


class Query(cogbuilder.Builder[Dataquery]):
    """Builder of an Infinity query, in the SDK's style."""

    def __init__(self) -> None:
        self._internal = Dataquery()

    def build(self) -> Dataquery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def url(self, url: str) -> Self:
        self._internal.url = url
        return self

    def param(self, key: str, value: str) -> Self:
        self._internal.params.append((key, value))
        return self

    def root_selector(self, selector: str) -> Self:
        self._internal.root_selector = selector
        return self

    def column(self, selector: str, type_: ColumnType = "string") -> Self:
        self._internal.columns.append(Column(selector, selector, type_))
        return self

    def datasource(self, ref: DataSourceRef) -> Self:
        self._internal.datasource = ref
        return self


def _only(data: dict[str, Any], keys: set[str] | frozenset[str], what: str) -> None:
    unknown = set(data) - set(keys)
    if unknown:
        raise ValueError(f"{what}: unknown keys {sorted(unknown)}")


def register() -> None:
    """Make the SDK decode Infinity queries as ``Dataquery`` (idempotent)."""
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier=PLUGIN, from_json_hook=Dataquery.from_json)
    )
