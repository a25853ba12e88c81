"""The faces service's matcher between and within batches: which cameras have faces on
(failing closed), the audit of that setting, the watchlist's expiry. Real models, real
stores, no broker."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from civicsight.cameras import cameras_with
from civicsight.models.runtimes.face_encoder import FaceEncoder
from civicsight.services.faces.matcher import WatchlistMatcher
from civicsight.watchlist import DAY_S
from tests.unit.civicsight.services.faces.conftest import REASONS, enrol_obama, write_camera


def test_faces_are_off_unless_a_camera_enables_them(cameras: Path) -> None:
    """Guards the default: a camera file without ``analytics.faces: true`` is not used."""
    assert cameras_with(cameras, "faces") == frozenset({"cam-on"})


def test_a_broken_camera_folder_turns_faces_off(matcher: WatchlistMatcher, cameras: Path) -> None:
    """Guards fail-closed: if the camera files stop loading, no camera keeps faces on."""
    matcher.refresh(time.time())
    assert matcher.cameras == frozenset({"cam-on"})
    write_camera(cameras, "cam-bad", True, extra="race: x\n")
    matcher.refresh(time.time())
    assert matcher.cameras == frozenset()


def test_face_enabled_cameras_are_audited_once_per_change(
    matcher: WatchlistMatcher, cameras: Path, encoder: FaceEncoder
) -> None:
    """Guards accountability for the faces setting: the first time the service sees a
    camera with faces on, its purpose and legal basis go to the audit log; a restart does
    not repeat it; a changed legal basis and switching faces off are recorded again."""
    matcher.refresh(time.time())
    matcher.refresh(time.time())
    restarted = WatchlistMatcher(matcher.settings, encoder, matcher.watchlist, matcher.alerts)
    restarted.refresh(time.time())
    write_camera(cameras, "cam-on", True, reasons=REASONS.replace("2026/118", "2026/200"))
    restarted.refresh(time.time())
    write_camera(cameras, "cam-on", False)
    restarted.refresh(time.time())
    log = [(e.action, e.details["camera_id"], e.details.get("legal_basis"))
           for e in matcher.audit.entries()]  # fmt: skip
    assert log == [
        ("camera.faces_enabled", "cam-on", "court order 2026/118"),
        ("camera.faces_enabled", "cam-on", "court order 2026/200"),
        ("camera.faces_disabled", "cam-on", None),
    ]
    assert "find missing persons" in matcher.audit.entries()[0].details["purpose"]


def test_refresh_drops_expired_entries(matcher: WatchlistMatcher, obama: np.ndarray) -> None:
    """Guards against matching (or keeping) an entry past its expiry while running."""
    enrol_obama(matcher, obama, days=1)
    matcher.refresh(time.time())
    assert matcher.index.entries == {("wl", "e-1")}
    matcher.refresh(time.time() + 2 * DAY_S)
    assert len(matcher.index) == 0 and matcher.watchlist.entries() == []
