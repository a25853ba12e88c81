"""``civicsight privacy report [--json] [--since TIME]``: which cameras run which
analytics (and why), the retention settings, the active watchlists with their expiry, the
alerts, and who searched what. Input for a data-protection impact assessment (DPIA).

It reads the camera files, the retention policy, the watchlist, the alert store and the
audit log, and changes none of them. Names of enrolled people are never printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from civicsight.alert_store import AlertStore
from civicsight.alerts import Alert
from civicsight.audit import AuditEntry, AuditLog
from civicsight.cameras import CameraConfig, CameraConfigError, load_cameras
from civicsight.cli import parse_time
from civicsight.retention import DATA_CLASSES, RetentionPolicy
from civicsight.services.faces.settings import FacesSettings
from civicsight.topics import TOPICS
from civicsight.watchlist import WatchlistEntry, WatchlistStore

SEARCH_ACTIONS = ("search.tracks", "search.biometric", "export", "thumbnail.view")
ANALYTICS = ("detect", "plates", "reid", "faces")


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


def _days(seconds: float) -> str:
    if seconds == 0:
        return "at expiry"
    return f"{seconds / 86400:g} d" if seconds >= 86400 else f"{seconds / 3600:g} h"


def build_report(
    cameras: Sequence[CameraConfig],
    policy: RetentionPolicy,
    watchlist: Sequence[tuple[WatchlistEntry, int]],
    alerts: Sequence[Alert],
    audit: Sequence[AuditEntry],
    now: float,
    since: float | None,
) -> dict[str, Any]:
    """The report as plain data (pure: every input is passed in)."""
    searches = [e for e in audit if e.action in SEARCH_ACTIONS]
    by_actor: Counter[tuple[str, str, str]] = Counter((e.actor, e.role, e.action) for e in searches)
    by_case: Counter[str] = Counter(str(e.details.get("case_id", "(none)")) for e in searches)
    return {
        "generated_at": _iso(now),
        "audit_since": _iso(since) if since is not None else None,
        "cameras": [
            {
                "id": c.id,
                "name": c.name,
                "source": c.redacted_source,
                "simulated": c.simulated,
                "analytics": [a for a in ANALYTICS if getattr(c.analytics, a)],
                "faces_purpose": c.analytics.faces_purpose if c.analytics.faces else None,
                "faces_legal_basis": c.analytics.faces_legal_basis if c.analytics.faces else None,
            }
            for c in cameras
        ],
        "retention": {
            c: {
                "keep_s": policy.keep(c).total_seconds(),
                "keep": _days(policy.keep(c).total_seconds()),
            }
            for c in DATA_CLASSES
        },
        "topics": {
            t.name: {"data_class": t.data_class, "retention_ms": t.retention_ms(policy)}
            for t in TOPICS
        },
        "watchlists": [
            {
                "watchlist_id": e.watchlist_id,
                "entry_id": e.entry_id,
                "case_id": e.case_id,
                "reason": e.reason,
                "added_by": e.added_by,
                "added_at": _iso(e.added_at),
                "expires_at": _iso(e.expires_at),
                "photos": n,
            }
            for e, n in watchlist
            if not e.expired(now)
        ],
        "alerts": dict(Counter(a.state for a in alerts)),
        "searches": {
            "total": len(searches),
            "by_user": [
                {"actor": a, "role": r, "action": act, "count": n}
                for (a, r, act), n in sorted(by_actor.items())
            ],
            "by_case": dict(sorted(by_case.items())),
            "biometric": [
                {
                    "at": _iso(e.at),
                    "actor": e.actor,
                    "role": e.role,
                    "case_id": e.details.get("case_id"),
                    "purpose": e.details.get("purpose"),
                    "reference_lists": e.details.get("reference_lists"),
                    "matches": len(e.details.get("matches", [])),
                }
                for e in searches
                if e.action == "search.biometric"
            ],
        },
        "audit_entries": len(audit),
    }


def render_text(report: dict[str, Any]) -> str:
    out = [f"CivicSight privacy report, {report['generated_at']}", "", "Cameras"]
    for c in report["cameras"]:
        line = f"  {c['id']} ({c['name']}): {', '.join(c['analytics']) or 'nothing'}"
        out.append(line + (" [simulated]" if c["simulated"] else ""))
        if c["faces_purpose"]:
            out.append(f"    faces purpose: {c['faces_purpose']}")
            out.append(f"    legal basis: {c['faces_legal_basis']}")
    out += ["", "Retention"]
    out += [f"  {name}: {r['keep']}" for name, r in report["retention"].items()]
    out += ["", "Active watchlist entries"]
    out += [
        f"  {w['watchlist_id']}/{w['entry_id']} case {w['case_id']}, added by {w['added_by']} "
        f"{w['added_at']}, expires {w['expires_at']}"
        for w in report["watchlists"]
    ] or ["  (none)"]
    alerts = ", ".join(f"{k} {v}" for k, v in sorted(report["alerts"].items())) or "none"
    out += ["", f"Alerts: {alerts}", ""]
    since = f" since {report['audit_since']}" if report["audit_since"] else ""
    s = report["searches"]
    out.append(f"Searches, exports and thumbnail views{since}: {s['total']}")
    out += [f"  {u['actor']} ({u['role']}): {u['action']} x{u['count']}" for u in s["by_user"]]
    if s["by_case"]:
        out.append("  by case: " + ", ".join(f"{k} {v}" for k, v in s["by_case"].items()))
    for b in s["biometric"]:
        out.append(
            f"  biometric {b['at']} by {b['actor']}: case {b['case_id']}, "
            f"purpose {b['purpose']!r}, lists {b['reference_lists']}, {b['matches']} matches"
        )
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="civicsight privacy report", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--since", type=parse_time, help="audit entries from (Unix s or ISO)")
    args = parser.parse_args(argv)
    settings = FacesSettings()
    now = time.time()
    try:
        folder = settings.cameras_dir
        cameras = load_cameras(folder) if folder.is_dir() else []
        policy = settings.retention_policy()
    except (CameraConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with AuditLog(settings.data_dir) as audit:
        entries: list[tuple[WatchlistEntry, int]] = []
        alerts: list[Alert] = []
        if settings.watchlist_file.exists():  # reading creates no store
            watchlist = WatchlistStore(settings.watchlist_file, audit)
            watchlist.open()
            entries = watchlist.entries()
            watchlist.close()
        if settings.alerts_file.exists():
            alert_store = AlertStore(settings.alerts_file, audit)
            alert_store.open()
            alerts = alert_store.alerts()
            alert_store.close()
        report = build_report(
            cameras, policy, entries, alerts, audit.entries(since=args.since), now, args.since
        )
    sys.stdout.write(json.dumps(report, indent=2) + "\n" if args.json else render_text(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
