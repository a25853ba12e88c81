"""Counting lines and zones of each camera, and the rule hits they produce, live.

``GET /api/cameras/{id}/rules`` shows a camera's rules to every role that sees live tiles;
``PUT`` replaces them and is for administrators only (``manage``). The body is validated
by the camera file's own model (``civicsight.cameras.Rules``: every point inside the
frame, lines of 2 points or more, zones of 3 or more that do not cross themselves, ids
unique), so bad geometry is a 400 that says what to change. A saved change rewrites the
camera's file atomically (``save_rules``: every other field of the file stays), is
audited (``camera.rules``: the camera and how many lines and zones, not where), and
updates the API's camera list; the stream app reads the file again within
``CIVICSIGHT_RULES_RELOAD_S``. The cameras folder comes from ``app.state.cameras_dir``;
without one, rules can be read but not saved (503).

``GET /api/events/rule-hits?after=N`` gives the rule hits the live feed received after
cursor ``N`` (newest 200 kept), for a page that polls; the answer's ``cursor`` is the
next ``after``.
"""

from __future__ import annotations

import threading
from collections.abc import MutableSequence, Sequence
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from civicsight.auth import Permission
from civicsight.cameras import CameraConfig, CameraConfigError, Rules, save_rules
from civicsight.events import SLUG, RuleHit
from civicsight.services.api.auth_routes import audit
from civicsight.services.api.live import LiveView
from civicsight.services.api.security import Authed, require

CameraPath = Annotated[str, PathParam(pattern=SLUG, description="camera id")]


class RuleHitPage(BaseModel):
    hits: list[RuleHit] = Field(description="oldest first")
    cursor: int = Field(description="pass as after= to get only newer hits")
    missed: int = Field(description="hits after the cursor given that are no longer kept")


def rules_router(cameras: Sequence[CameraConfig], live: LiveView) -> APIRouter:
    """The routes over ``cameras`` (the list the API serves, updated in place when rules
    are saved) and ``live`` (whose ``rule_hits`` the live feed fills)."""
    router = APIRouter(tags=["rules"])
    saving = threading.Lock()
    live_only = require(Permission.LIVE)
    saved: dict[str, CameraConfig] = {}
    """cameras whose rules were saved here (``cameras`` may not be changeable)"""

    def camera(camera_id: str) -> tuple[int, CameraConfig]:
        for i, cam in enumerate(cameras):
            if cam.id == camera_id:
                return i, saved.get(camera_id, cam)
        raise HTTPException(404, f"unknown camera {camera_id!r}")

    @router.get("/api/cameras/{camera_id}/rules", response_model=Rules, dependencies=[live_only])
    def get_rules(camera_id: CameraPath) -> Rules:
        return camera(camera_id)[1].rules

    @router.put(
        "/api/cameras/{camera_id}/rules",
        response_model=Rules,
        dependencies=[require(Permission.MANAGE)],
    )
    def put_rules(
        request: Request,
        who: Authed,
        camera_id: CameraPath,
        rules: Annotated[Rules, Body(description="the camera's lines and zones, all of them")],
    ) -> Rules:
        camera(camera_id)
        folder: Path | None = getattr(request.app.state, "cameras_dir", None)
        if folder is None:
            raise HTTPException(503, "this API has no cameras folder: rules cannot be saved")
        with saving:
            try:
                updated = save_rules(Path(folder), camera_id, rules)
            except CameraConfigError as err:
                raise HTTPException(409, f"the camera file cannot be saved: {err}") from None
            saved[camera_id] = updated
            i, _ = camera(camera_id)
            if isinstance(cameras, MutableSequence):
                cameras[i] = updated  # GET /api/cameras serves the camera as it now is
        details = {"camera": camera_id, "lines": len(rules.lines), "zones": len(rules.zones)}
        audit(request, who.label, who.role.value, "camera.rules", details)
        return updated.rules

    @router.get("/api/events/rule-hits", response_model=RuleHitPage, dependencies=[live_only])
    def rule_hits(
        after: Annotated[int, Query(ge=0, description="cursor of the last poll; 0 for all")] = 0,
        camera: Annotated[str | None, Query(pattern=SLUG, description="one camera")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> RuleHitPage:
        page = live.rule_hits.after(after, limit)
        hits = page.items if camera is None else [h for h in page.items if h.camera_id == camera]
        return RuleHitPage(hits=hits, cursor=page.cursor, missed=page.missed)

    return router
