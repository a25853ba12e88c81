"""The stream worker's settings, read from the environment."""

from __future__ import annotations

import pytest

from civicsight.streams.settings import StreamSettings


def test_settings_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards: a tuning variable silently ignored (wrong name or prefix)."""
    monkeypatch.setenv("CIVICSIGHT_TRACKLET_TIMEOUT", "1.5")
    monkeypatch.setenv("CIVICSIGHT_TRACKLET_MIN_DETECTIONS", "2")
    monkeypatch.setenv("CIVICSIGHT_TRACKLET_UPDATE_INTERVAL", "0.5")
    monkeypatch.setenv("CIVICSIGHT_STREAMS_APP_ID", "other")
    s = StreamSettings()
    assert (
        s.tracklet_timeout,
        s.tracklet_min_detections,
        s.tracklet_update_interval,
        s.streams_app_id,
    ) == (1.5, 2, 0.5, "other")
    with pytest.raises(ValueError):
        s.tracklet_timeout = 9.0  # type: ignore[misc]
