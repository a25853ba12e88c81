"""The scheduled audit-chain check: ``civicsight up`` verifies the whole audit log at start
and then every ``CIVICSIGHT_AUDIT_CHECK_EVERY_S`` (a day), and records each result in the
log itself as ``audit.verified`` (ok, entries checked, the first problem and where).

A check nobody runs finds nothing: recording it makes the checking itself auditable, and
the public transparency page shows the date and result of the last one. A broken chain is
also logged as an error. The check reads every entry (HMAC of each), which is why it runs
on a schedule rather than on every page view.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from civicsight.audit import AuditLog, Verification

log = logging.getLogger("audit")

ACTION = "audit.verified"


def check_log(audit: AuditLog, now: float) -> Verification:
    """Verify ``audit`` and append the result (actor ``system``) at ``now``."""
    result = audit.verify()
    details = {"ok": result.ok, "checked": result.checked, "problem": result.problem}
    if result.seq is not None:
        details["seq"] = result.seq
    audit.append("system", "system", ACTION, details, at=now)
    return result


def check_once(data_dir: Path, now: float) -> Verification:
    """Open the audit log of ``data_dir``, verify it and record the result."""
    with AuditLog(data_dir) as audit:
        return check_log(audit, now)


def check_every(data_dir: Path, every_s: float, stop: threading.Event) -> threading.Thread:
    """A daemon thread that checks the chain now and then every ``every_s`` seconds until
    ``stop``; a check that fails to run is logged and tried again next time."""

    def loop() -> None:
        while not stop.is_set():
            try:
                result = check_once(data_dir, time.time())
                if result.ok:
                    log.info("%s", result)
                else:
                    log.error("%s", result)
            except Exception:  # keep the hub running; the next check retries
                log.exception("audit chain check failed to run")
            stop.wait(every_s)

    thread = threading.Thread(target=loop, name="audit-check", daemon=True)
    thread.start()
    return thread
