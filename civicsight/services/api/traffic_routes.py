"""Traffic tables for traffic authorities (the ``aggregates`` permission):
``GET /api/traffic/{counts,turning,zones,speeds,journeys,od}``.

Numbers only, per 15-minute bin: no track, plate, crop or position. Each answer covers the
whole, settled bins of ``[since, until)`` (``civicsight.disclosure.published_window``: the
window widened to its first bin's start and cut to the last bin that is over and
settled), at most ``SearchLimits.max_window_days``. Every bin is protected whole (every
camera, every class) before ``camera`` and ``cls`` pick rows out of it
(``civicsight.traffic_tables``), so an answer never depends on what was asked. ``format``:
``json`` (``{"columns", "rows", "k", "suppressed", "bin_minutes", "since", "until"}``, what
the Grafana dashboards read) or ``csv`` (the same columns, ``null`` as an empty field).
Each request is one ``traffic.read`` audit entry with the table, window and filters.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from civicsight.auth import Permission
from civicsight.disclosure import published_window
from civicsight.events import SLUG, ObjectClass
from civicsight.services.api.deps import Audit, Authed, Cameras, Disclosure, Limits, Traffic
from civicsight.services.api.params import time_query
from civicsight.services.api.security import require
from civicsight.traffic import BIN_S
from civicsight.traffic_tables import COLUMNS, TABLES, TableName, publish, to_csv, to_json

router = APIRouter(prefix="/api/traffic", tags=["traffic"])

Format = Literal["json", "csv"]
AnyCamera = Annotated[
    str | None,
    Query(pattern=f"^$|{SLUG}", description="only this camera (for journeys and OD: as "
          "origin or destination); empty or absent: all"),
]  # fmt: skip
AnyClass = Annotated[
    ObjectClass | Literal[""] | None, Query(description="only this class; empty or absent: all")
]
"""An empty ``camera`` or ``cls`` means all: a Grafana text box left empty sends one."""
ABOUT: dict[TableName, str] = {
    "counts": "line crossings per camera, line, direction and class",
    "turning": "turning movements per junction camera (entry leg to exit leg) and class",
    "zones": "zone entries, exits, occupancy and dwell per camera, zone and class",
    "speeds": "speed percentiles per camera, line and class",
    "journeys": "journey times between cameras (arrival bin) per class and source",
    "od": "origin-destination: tracks from their first camera to their last (start bin)",
}


class TrafficTable(BaseModel):
    """The JSON answer (``format=json``)."""

    columns: list[str] = Field(description="the row fields, in order")
    rows: list[dict[str, Any]] = Field(
        description="one per bin and key; null: withheld (status suppressed) or unknown "
        "(status camera_down); * in a key: all (a total)"
    )
    k: int = Field(description="values below this are withheld")
    suppressed: int = Field(description="rows with a withheld value")
    bin_minutes: int = Field(description="every row covers one bin of this length (15)")
    since: str = Field(description="start of the first bin answered (ISO 8601, UTC)")
    until: str = Field(description="end of the last whole, settled bin answered")


def _stamp(t: float) -> str:
    return time.strftime("%Y%m%dT%H%MZ", time.gmtime(t))


def _reader(name: TableName) -> Callable[..., Response]:
    def read(
        cameras: Cameras,
        source: Traffic,
        thresholds: Disclosure,
        limits: Limits,
        trail: Audit,
        who: Authed,
        since: Annotated[float, time_query("window start (Unix seconds; widened to its bin)")],
        until: Annotated[
            float | None,
            time_query("window end (Unix seconds; default now; cut to whole, settled bins)"),
        ] = None,
        camera: AnyCamera = None,
        cls: AnyClass = None,
        fmt: Annotated[Format, Query(alias="format", description="json or csv")] = "json",
    ) -> Response:
        now = time.time()
        end = until if until is not None else now
        if end <= since:
            raise HTTPException(400, "until must be after since")
        if end - since > limits.max_window_days * 86_400:
            raise HTTPException(
                400, f"the window may cover at most {limits.max_window_days:g} days"
            )
        window = published_window(since, end, BIN_S, now)
        table = publish(source, cameras.all(), window, thresholds, (name,))[name]
        camera, cls = camera or None, cls or None
        table = table.select(camera, cls)
        details = {"table": name, "since": window.start, "until": window.end, "camera": camera,
                   "cls": cls, "format": fmt, "rows": len(table.rows)}  # fmt: skip
        trail.append(who.label, who.role.value, "traffic.read", details)
        if fmt == "csv":
            filename = f"traffic-{name}-{_stamp(window.start)}-{_stamp(window.end)}.csv"
            return Response(
                to_csv(table),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        return JSONResponse(to_json(table))

    read.__name__ = f"traffic_{name}"
    return read


for _name in TABLES:
    router.add_api_route(
        f"/{_name}",
        _reader(_name),
        methods=["GET"],
        dependencies=[require(Permission.AGGREGATES)],
        response_model=None,
        summary=ABOUT[_name],
        description=f"Columns: {', '.join(COLUMNS[_name])}. Small counts withheld (null).",
        responses={200: {"model": TrafficTable, "content": {"text/csv": {}}}},
    )
