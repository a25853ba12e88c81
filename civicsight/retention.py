"""Retention: how long each class of data is kept, and the one loop that enforces it.

``RetentionPolicy`` is frozen and validated: every period is positive and at most ten
years, and the audit log is kept at least ``AUDIT_MIN_DAYS`` (six months: EU AI Act
Art. 19(1) and 26(6)); a shorter setting is refused, not rounded up. A site changes the
defaults in a YAML file (``CIVICSIGHT_RETENTION_FILE``), with durations like ``36h`` or
``90d``::

    plates_non_hit: 1d
    tracks: 14d

Each store that holds a data class implements the ``Retainer`` Protocol
(``data_classes`` and ``purge(data_class, before) -> int``). ``enforce(retainers, policy,
now)`` asks every retainer to delete what is older than ``now - policy.keep(class)``.
Kafka topics get their ``retention.ms`` from the same policy (``civicsight.topics``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, Protocol, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from civicsight.config_files import load_yaml_model

DataClass = Literal[
    "frames",
    "crops",
    "detections",
    "appearances",
    "plates_non_hit",
    "tracks",
    "traffic",
    "alerts",
    "audit",
    "watchlist",
]
DATA_CLASSES: tuple[DataClass, ...] = get_args(DataClass)
AUDIT_MIN_DAYS = 183
MAX_DAYS = 3650
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class RetentionError(ValueError):
    """A retention setting that cannot be used."""


def parse_duration(value: object) -> object:
    """``"36h"``, ``"90d"``, ``"15m"``, ``"30s"`` -> timedelta; other values pass through
    (pydantic then reads numbers as seconds and ISO 8601 strings)."""
    if isinstance(value, str):
        found = DURATION.fullmatch(value)
        if found:
            return timedelta(seconds=float(found[1]) * UNIT_S[found[2]])
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class RetentionPolicy(BaseModel):
    """How long each data class is kept (see the README's retention table for why)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    frames: Duration = Field(timedelta(hours=1), description="sampled camera frames (frames topic)")
    crops: Duration = Field(timedelta(hours=6), description="object crops (crops topic)")
    detections: Duration = Field(
        timedelta(hours=24), description="boxes per frame (detections topic)"
    )
    appearances: Duration = Field(
        timedelta(hours=24), description="re-ID embeddings, colour, type (appearances topic)"
    )
    plates_non_hit: Duration = Field(
        timedelta(days=2),
        description="plate reads that match no case (plate_reads topic, plate stores)",
    )
    tracks: Duration = Field(
        timedelta(days=30),
        description="tracks and their best crops (track store, track_updates topic)",
    )
    traffic: Duration = Field(
        timedelta(days=1826),
        description="traffic counts, occupancy, turns and speed distributions per 15-minute "
        "bin (aggregates: no track, plate or person; traffic store, traffic_bins topic)",
    )
    alerts: Duration = Field(
        timedelta(days=90), description="watchlist alerts and their confirmations (alert store)"
    )
    audit: Duration = Field(
        timedelta(days=365), description=f"the audit log (at least {AUDIT_MIN_DAYS} days)"
    )

    @model_validator(mode="after")
    def _bounds(self) -> RetentionPolicy:
        for name in type(self).model_fields:
            period: timedelta = getattr(self, name)
            if period <= timedelta(0):
                raise ValueError(f"{name}: must be positive")
            if period > timedelta(days=MAX_DAYS):
                raise ValueError(f"{name}: at most {MAX_DAYS} days")
        if self.audit < timedelta(days=AUDIT_MIN_DAYS):
            raise ValueError(
                f"audit: at least {AUDIT_MIN_DAYS} days (six months, EU AI Act Art. 19/26(6)); "
                f"got {self.audit.total_seconds() / 86400:g} days"
            )
        return self

    def keep(self, data_class: str) -> timedelta:
        """How long ``data_class`` is kept. Expired watchlist entries: not at all (they are
        deleted at their expiry; fixed, not a setting)."""
        if data_class == "watchlist":
            return timedelta(0)
        if data_class not in DATA_CLASSES:
            raise RetentionError(f"unknown data class {data_class!r}; known: {DATA_CLASSES}")
        period: timedelta = getattr(self, data_class)
        return period

    def keep_ms(self, data_class: str) -> int:
        return int(self.keep(data_class).total_seconds() * 1000)

    def cutoff(self, data_class: str, now: float) -> float:
        """Unix time before which ``data_class`` records are deleted at ``now``."""
        return now - self.keep(data_class).total_seconds()


DEFAULT_POLICY = RetentionPolicy()


def load_policy(path: Path | None) -> RetentionPolicy:
    """The site's policy from a YAML file, or the defaults when ``path`` is None."""
    if path is None:
        return DEFAULT_POLICY
    return load_yaml_model(path, RetentionPolicy, RetentionError)


class Retainer(Protocol):
    """A store that holds some data classes and can delete their old records."""

    @property
    def data_classes(self) -> tuple[str, ...]: ...

    def purge(self, data_class: str, before: float) -> int:
        """Delete the ``data_class`` records made before ``before`` (Unix time); how many."""
        ...


@dataclass(frozen=True)
class Purged:
    store: str
    data_class: str
    before: float
    deleted: int


def enforce(retainers: Sequence[Retainer], policy: RetentionPolicy, now: float) -> list[Purged]:
    """Run every retainer's purge for each of its data classes, with the cut-off the policy
    gives at ``now``. This is where every store plugs in: the SQLite stores of the kernel
    and the faces service today, the track store and Elasticsearch when they implement
    ``Retainer`` (``services.retention.main.retainers`` builds the list)."""
    done: list[Purged] = []
    for store in retainers:
        for data_class in store.data_classes:
            if data_class not in DATA_CLASSES:
                raise RetentionError(f"{type(store).__name__}: unknown data class {data_class!r}")
            before = policy.cutoff(data_class, now)
            deleted = store.purge(data_class, before)
            done.append(Purged(type(store).__name__, data_class, before, deleted))
    return done
