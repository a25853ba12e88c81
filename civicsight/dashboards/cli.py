"""``civicsight dashboards build | push``.

    civicsight dashboards build [--out DIR] [--check]
    civicsight dashboards push --url URL --token-env VAR

``build`` writes ``dashboards/build/*.json`` and ``dashboards/provisioning/`` (``--check``:
write nothing, exit 1 when the committed files differ from a fresh build). ``push``
uploads the freshly built dashboards to the Grafana at URL, with the API token read from
the environment variable VAR (never from the command line, where it would show in the
process list and the shell history).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from civicsight.dashboards.build import DASHBOARDS, ROOT, dashboard_json, stale, write
from civicsight.dashboards.push import PushError, push, where
from civicsight.dashboards.sources import FOLDER, FOLDER_UID


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="civicsight dashboards", description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    build = sub.add_parser("build", help="build the dashboards' JSON and provisioning")
    build.add_argument("--out", type=Path, default=ROOT, help=f"default: {ROOT}")
    build.add_argument("--check", action="store_true", help="only compare with a fresh build")
    up = sub.add_parser("push", help="upload the dashboards to a Grafana")
    up.add_argument("--url", required=True, help="Grafana's URL, e.g. http://127.0.0.1:3000")
    up.add_argument("--token-env", required=True, help="the variable holding the API token")
    up.add_argument("--folder", default=FOLDER, help=f"folder title (default {FOLDER})")
    args = parser.parse_args(argv)
    if args.what == "build":
        if args.check:
            old = stale(args.out)
            for rel in old:
                print(f"stale: {args.out / rel} (run civicsight dashboards build)", file=sys.stderr)
            return 1 if old else 0
        for path in write(args.out):
            print(f"wrote {path}")
        return 0
    token = os.environ.get(args.token_env, "")
    if not token:
        print(f"civicsight dashboards push: ${args.token_env} is empty or unset", file=sys.stderr)
        return 2
    dashboards = {rel: dashboard_json(make()) for rel, make in DASHBOARDS.items()}
    try:
        uids = push(args.url, token, dashboards, args.folder, FOLDER_UID)
    except (PushError, OSError) as err:
        print(f"civicsight dashboards push: {err}", file=sys.stderr)
        return 1
    print(f"pushed {', '.join(uids)} to {where(args.url)} (folder {args.folder})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
