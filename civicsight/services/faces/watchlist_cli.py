"""Manage the face watchlist (``<data_dir>/watchlist.db``).

    python -m services.faces.watchlist_cli add --watchlist missing --entry m-0042 \\
        --label "..." --case 2026/118 --reason "missing person report" --added-by alice \\
        --days 30 photo1.jpg photo2.jpg
    python -m services.faces.watchlist_cli list [--json]
    python -m services.faces.watchlist_cli remove --watchlist missing --entry m-0042 \\
        --removed-by alice [--reason "found safe"]

Every entry needs a case id, a reason, the name of who added it and an expiry (at most
365 days). The entry keeps the face of its first photo as reference photo, for the
people who review its alerts. Expired entries are purged whenever this command, the faces
service or the API opens the watchlist. Every change is written to the audit log
(``<data_dir>/audit.db``) with role ``local``: the command line has no login, so access to
the hub host and its data folder is the control here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from civicsight.audit import AuditError, AuditLog
from civicsight.faces import EnrolmentError
from civicsight.images import read_image
from civicsight.models.registry import ModelUnavailableError
from civicsight.models.runtimes.face_encoder import FaceEncoder
from civicsight.services.faces.settings import FacesSettings
from civicsight.watchlist import (
    DAY_S,
    MAX_DAYS,
    WatchlistEntry,
    WatchlistError,
    WatchlistStore,
    enrol,
)

CLI_ROLE = "local"


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


def cmd_add(args: argparse.Namespace, settings: FacesSettings, store: WatchlistStore) -> int:
    now = time.time()
    entry = WatchlistEntry(
        watchlist_id=args.watchlist,
        entry_id=args.entry,
        label=args.label,
        case_id=args.case,
        reason=args.reason,
        added_by=args.added_by,
        added_at=now,
        expires_at=now + args.days * DAY_S,
    )
    images = [(str(p), read_image(p)) for p in args.photos]
    encoder = FaceEncoder.from_registry(settings.model_choice())
    encoder.start()
    try:
        n = enrol(
            store,
            entry,
            images,
            encoder,
            settings.face_threshold,
            settings.face_min_px,
            role=CLI_ROLE,
        )
    finally:
        encoder.close()
    print(
        f"added {entry.watchlist_id}/{entry.entry_id} from {n} photos; "
        f"expires {_iso(entry.expires_at)}"
    )
    return 0


def cmd_list(args: argparse.Namespace, settings: FacesSettings, store: WatchlistStore) -> int:
    rows = store.entries()
    if args.json:
        doc = [{**e.model_dump(), "embeddings": n} for e, n in rows]
        print(json.dumps(doc, indent=2))
        return 0
    if not rows:
        print(f"the watchlist {store.path} is empty")
        return 0
    print("watchlist\tentry\tlabel\tcase\treason\tadded by\tadded\texpires\tphotos")
    for e, n in rows:
        print(
            f"{e.watchlist_id}\t{e.entry_id}\t{e.label}\t{e.case_id}\t{e.reason}\t{e.added_by}\t"
            f"{_iso(e.added_at)}\t{_iso(e.expires_at)}\t{n}"
        )
    return 0


def cmd_remove(args: argparse.Namespace, settings: FacesSettings, store: WatchlistStore) -> int:
    removed = store.remove(
        args.watchlist, args.entry, actor=args.removed_by, role=CLI_ROLE, reason=args.reason
    )
    if not removed:
        print(f"error: {args.watchlist}/{args.entry} is not on the watchlist", file=sys.stderr)
        return 1
    print(f"removed {args.watchlist}/{args.entry}, its embeddings and its photo")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="civicsight watchlist",
        description="Manage the face watchlist: the only faces the hub can recognise.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="enrol a person from photos that show only them")
    add.add_argument("--watchlist", required=True, help="watchlist id (lower case)")
    add.add_argument("--entry", required=True, help="opaque entry id, published on matches")
    add.add_argument("--label", required=True, help="who this is (never published)")
    add.add_argument("--case", required=True, help="case id, e.g. 2026/118")
    add.add_argument("--reason", required=True, help="why this person is enrolled")
    add.add_argument("--added-by", required=True, help="who is adding the entry")
    add.add_argument(
        "--days", required=True, type=float, help=f"days until it expires (at most {MAX_DAYS})"
    )
    add.add_argument("photos", nargs="+", type=Path, help="photos of the person alone")
    add.set_defaults(func=cmd_add)
    lst = sub.add_parser("list", help="list the entries (expired ones are purged first)")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=cmd_list)
    rm = sub.add_parser("remove", help="delete an entry and its embeddings")
    rm.add_argument("--watchlist", required=True)
    rm.add_argument("--entry", required=True)
    rm.add_argument("--removed-by", required=True, help="who is removing the entry")
    rm.add_argument("--reason", help="why (kept in the audit log)")
    rm.set_defaults(func=cmd_remove)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = FacesSettings()
    audit = AuditLog(settings.data_dir)
    store = WatchlistStore(settings.watchlist_file, audit)
    try:
        audit.open()
        store.open()
        purged = store.purge_expired(time.time())
        if purged:
            print(f"purged {purged} expired entries", file=sys.stderr)
        return int(args.func(args, settings, store))
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in err.errors()
        )
        print(f"error: {problems}", file=sys.stderr)
    except (
        EnrolmentError,
        WatchlistError,
        AuditError,
        ModelUnavailableError,
        FileNotFoundError,
        ValueError,
    ) as err:
        print(f"error: {err}", file=sys.stderr)
    finally:
        store.close()
        audit.close()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
