"""The public transparency page: ``GET /transparency`` (a static page) and its data,
``GET /api/transparency`` (JSON, ``civicsight.transparency.Transparency``). Both answer
without credentials: they hold aggregates only (see ``civicsight.transparency`` for what
is published and what never is).

A public route must not let anyone make the API scan the audit log many times a second:
the figures are computed at most once a minute (``ApiState.transparency``, a ``Cached``)
and served from memory in between; requests that arrive while they are computed wait for
that one computation.
Reading the page is not audited: it is public, and an entry per anonymous request would
let anyone flood the log.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse

from civicsight.services.api.deps import Audit, Cameras, Retention, State
from civicsight.services.api.state import TRANSPARENCY_TTL_S, Cached
from civicsight.transparency import Transparency, from_log

__all__ = ["TTL_S", "Cached", "router"]

TTL_S = TRANSPARENCY_TTL_S
PUBLIC_CACHE = f"public, max-age={TTL_S:.0f}"

router = APIRouter(tags=["public"])


@router.get("/api/transparency", response_model=Transparency)
def transparency(
    state: State, log: Audit, cameras: Cameras, policy: Retention, response: Response
) -> Transparency:
    """Aggregates for the public: no sign-in. Counts from 1 to 4 read "< 5"."""
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return state.transparency.get(lambda: from_log(log, cameras.all(), policy, time.time()))


@router.get("/transparency", include_in_schema=False)
def page(state: State) -> FileResponse:
    return FileResponse(state.static_dir / "transparency.html", media_type="text/html")
