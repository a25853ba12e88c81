"""Counting lines and zones of each camera, and the rule hits they produce, live.

``GET /api/cameras/{id}/rules`` shows a camera's rules to every role that sees live tiles;
``PUT`` replaces them and is for administrators only (``manage``). The body is validated
by the camera file's own model (``civicsight.cameras.Rules``: every point inside the
frame, lines of 2 points or more, zones of 3 or more that do not cross themselves, ids
unique), so bad geometry is a 400 that says what to change. A saved change rewrites the
camera's file atomically (``save_rules``: every other field of the file stays), is
audited (``camera.rules``: the camera and how many lines and zones, not where), and
updates the API's camera registry (``camera_registry.py``), which every route reads; the
stream app reads the file again within ``CIVICSIGHT_RULES_RELOAD_S``. Without a cameras
folder, rules can be read but not saved (503).

``GET /api/events/rule-hits?after=N`` gives the rule hits the live feed received after
cursor ``N`` (newest 200 kept), for a page that polls; the answer's ``cursor`` is the
next ``after``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query
from pydantic import BaseModel, Field

from civicsight.auth import Permission
from civicsight.cameras import CameraConfigError, Rules
from civicsight.events import SLUG, RuleHit
from civicsight.services.api.deps import Audit, Authed, Camera, Cameras, Live
from civicsight.services.api.security import require

router = APIRouter(tags=["rules"])
live_only = require(Permission.LIVE)


class RuleHitPage(BaseModel):
    hits: list[RuleHit] = Field(description="oldest first")
    cursor: int = Field(description="pass as after= to get only newer hits")
    missed: int = Field(description="hits after the cursor given that are no longer kept")


@router.get("/api/cameras/{camera_id}/rules", response_model=Rules, dependencies=[live_only])
def get_rules(camera: Camera) -> Rules:
    return camera.rules


@router.put(
    "/api/cameras/{camera_id}/rules",
    response_model=Rules,
    dependencies=[require(Permission.MANAGE)],
)
def put_rules(
    camera: Camera,
    cameras: Cameras,
    trail: Audit,
    who: Authed,
    rules: Annotated[Rules, Body(description="the camera's lines and zones, all of them")],
) -> Rules:
    camera_id = camera.id
    if cameras.folder is None:
        raise HTTPException(503, "this API has no cameras folder: rules cannot be saved")
    try:
        updated = cameras.save_rules(camera_id, rules)
    except CameraConfigError as err:
        raise HTTPException(409, f"the camera file cannot be saved: {err}") from None
    details = {"camera": camera_id, "lines": len(rules.lines), "zones": len(rules.zones)}
    trail.append(who.label, who.role.value, "camera.rules", details)
    return updated.rules


@router.get("/api/events/rule-hits", response_model=RuleHitPage, dependencies=[live_only])
def rule_hits(
    live: Live,
    after: Annotated[int, Query(ge=0, description="cursor of the last poll; 0 for all")] = 0,
    camera: Annotated[str | None, Query(pattern=SLUG, description="one camera")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> RuleHitPage:
    page = live.rule_hits.after(after, limit)
    hits = page.items if camera is None else [h for h in page.items if h.camera_id == camera]
    return RuleHitPage(hits=hits, cursor=page.cursor, missed=page.missed)
