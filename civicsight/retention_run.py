"""One retention run over the kernel's stores: ``civicsight retention run`` and the
periodic run inside ``civicsight up``.

``retainers(data_dir)`` opens the stores retention reaches; each run's counts go to the
audit log (``retention.run``). The watchlist (``civicsight.watchlist``) is a
``Retainer`` too; the faces service purges it at every refresh and the API whenever it
lists it (expired entries are deleted at their expiry), so it is not opened here (its
file may also lie outside the data folder, ``CIVICSIGHT_WATCHLIST_PATH``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.retention import Purged, Retainer, RetentionPolicy, enforce

log = logging.getLogger("retention")


@contextlib.contextmanager
def retainers(data_dir: Path) -> Iterator[tuple[AuditLog, list[Retainer]]]:
    """The audit log and the stores retention reaches, opened.

    The track store (SQLite or Elasticsearch: ``tracks``, ``appearances``,
    ``plates_non_hit``) is not here: the indexer, which holds it, enforces the same policy
    on it (``services/indexer/main.py``)."""
    with AuditLog(data_dir) as audit:
        alerts = AlertStore(data_dir / "alerts.db", audit)
        alerts.open()
        try:
            yield audit, [audit, alerts]
        finally:
            alerts.close()


def run_once(data_dir: Path, policy: RetentionPolicy, now: float) -> list[Purged]:
    """Enforce ``policy`` at ``now`` on every store; the counts are audited."""
    with retainers(data_dir) as (audit, stores):
        done = enforce(stores, policy, now)
        audit.append(
            "system",
            "system",
            "retention.run",
            {"now": now, "deleted": {f"{p.store}:{p.data_class}": p.deleted for p in done}},
            at=now,
        )
    return done


def run_every(
    data_dir: Path, policy: RetentionPolicy, every_s: float, stop: threading.Event
) -> threading.Thread:
    """A daemon thread that runs retention now and then every ``every_s`` seconds until
    ``stop``; a failed run is logged and tried again next time."""

    def loop() -> None:
        while not stop.is_set():
            try:
                done = run_once(data_dir, policy, time.time())
                deleted = sum(p.deleted for p in done)
                log.info("retention run: %d records deleted", deleted)
            except Exception:  # keep the hub running; the next run retries
                log.exception("retention run failed")
            stop.wait(every_s)

    thread = threading.Thread(target=loop, name="retention", daemon=True)
    thread.start()
    return thread
