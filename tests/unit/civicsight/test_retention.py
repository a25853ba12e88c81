"""The retention policy: defaults, bounds (audit at least six months), files, enforcement."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from civicsight.retention import (
    AUDIT_MIN_DAYS,
    DATA_CLASSES,
    DEFAULT_POLICY,
    RetentionError,
    RetentionPolicy,
    enforce,
    load_policy,
)

DAY = 86400.0


@pytest.mark.parametrize(
    ("over", "problem"),
    [
        ({"audit": "182d"}, f"at least {AUDIT_MIN_DAYS} days"),
        ({"audit": 0}, "positive"),
        ({"frames": "0h"}, "positive"),
        ({"tracks": "-1d"}, "positive"),
        ({"alerts": "4000d"}, "at most 3650 days"),
        ({"plates": "1d"}, "Extra inputs"),
        ({"crops": "a while"}, "timedelta"),
    ],
    ids=["audit-under-six-months", "audit-zero", "zero", "negative", "ten-years", "unknown",
         "garbage"],
)  # fmt: skip
def test_bad_policies_are_refused(over: dict[str, object], problem: str) -> None:
    """Guards against an audit log kept less than six months, and nonsense periods."""
    with pytest.raises(ValidationError, match=problem):
        RetentionPolicy.model_validate(over)


@pytest.mark.parametrize(
    ("text", "data_class", "expected"),
    [
        ("plates_non_hit: 36h\n", "plates_non_hit", timedelta(hours=36)),
        ("audit: 183d\n", "audit", timedelta(days=183)),
        ("frames: 15m\n", "frames", timedelta(minutes=15)),
        ("tracks: 604800\n", "tracks", timedelta(days=7)),
        ("tracks: P14D\n", "tracks", timedelta(days=14)),
        ("{}\n", "alerts", DEFAULT_POLICY.alerts),
    ],
)
def test_site_policy_file(tmp_path: Path, text: str, data_class: str, expected: timedelta) -> None:
    path = tmp_path / "retention.yaml"
    path.write_text(text)
    assert load_policy(path).keep(data_class) == expected


def test_a_bad_policy_file_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "retention.yaml"
    path.write_text("audit: 30d\n")
    with pytest.raises(RetentionError, match=r"retention\.yaml.*audit"):
        load_policy(path)


def test_defaults_are_short_for_raw_data_and_long_for_the_audit_log() -> None:
    """Guards the documented defaults' order: raw video < embeddings < plates < tracks <
    alerts < audit, and expired watchlist entries are not kept at all."""
    p = DEFAULT_POLICY
    assert p.frames < p.crops < p.appearances < p.plates_non_hit < p.tracks < p.alerts < p.audit
    assert p.plates_non_hit <= timedelta(days=7)  # days, not months
    assert p.audit >= timedelta(days=AUDIT_MIN_DAYS)
    assert p.keep("watchlist") == timedelta(0)
    with pytest.raises(RetentionError, match="unknown data class"):
        p.keep("faces")


@dataclass
class ListStore:
    """A real in-memory Retainer: records with a data class and a time."""

    data_classes: tuple[str, ...]
    records: list[tuple[str, float]] = field(default_factory=list)

    def purge(self, data_class: str, before: float) -> int:
        kept = [r for r in self.records if not (r[0] == data_class and r[1] < before)]
        gone = len(self.records) - len(kept)
        self.records = kept
        return gone


def test_enforce_asks_every_store_for_each_of_its_classes() -> None:
    now = 100 * DAY
    store = ListStore(
        ("frames", "tracks"),
        [("frames", now - 7200), ("frames", now - 60), ("tracks", now - 31 * DAY),
         ("tracks", now - 29 * DAY)],
    )  # fmt: skip
    done = enforce([store], DEFAULT_POLICY, now)
    assert [(p.data_class, p.deleted) for p in done] == [("frames", 1), ("tracks", 1)]
    assert store.records == [("frames", now - 60), ("tracks", now - 29 * DAY)]


def test_enforce_refuses_a_store_with_an_unknown_class() -> None:
    with pytest.raises(RetentionError, match="unknown data class"):
        enforce([ListStore(("faces",))], DEFAULT_POLICY, 0.0)


def test_every_data_class_has_a_period() -> None:
    assert all(DEFAULT_POLICY.keep(c) >= timedelta(0) for c in DATA_CLASSES)
