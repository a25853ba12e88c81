"""The ``civicsight`` command. Tools above the kernel run by module name in a child process,
so the kernel never imports services/, streams/ or models/."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pydantic import Field, model_validator

from civicsight.alert_store import AlertStore
from civicsight.alerts import AlertError
from civicsight.audit import AuditLog
from civicsight.audit_check import check_every
from civicsight.auth import Role, TokenStore, auth_db_path
from civicsight.bus import ensure_topics, stop_on_signals
from civicsight.logs import setup_logging
from civicsight.media import MediaUnavailableError, ensure_media
from civicsight.prometheus import (
    metrics_ports,
    prometheus_argv,
    prometheus_binary,
    write_config,
    write_targets,
)
from civicsight.resources import data_path
from civicsight.retention import RetentionError
from civicsight.retention_run import run_every, run_once
from civicsight.settings import CameraFiles, HubSettings, MediaSource, ModelSource
from civicsight.stack import EmbeddedBroker, ServiceSpec, Supervisor, free_port
from civicsight.topics import render_yaml

log = logging.getLogger("civicsight")
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
"""The folder holding the civicsight package (a checkout, or site-packages)."""
DEMO_CAMERAS = data_path("demo_cameras")

SERVICES = (
    ServiceSpec("ingest", "civicsight.services.ingest.main"),
    ServiceSpec("detect", "civicsight.services.detect.main"),
    ServiceSpec("faces", "civicsight.services.faces.main"),
    ServiceSpec("reid", "civicsight.services.reid.main"),
    ServiceSpec("plates", "civicsight.services.plates.main"),
    ServiceSpec("stream", "civicsight.streams.app"),
    ServiceSpec("indexer", "civicsight.services.indexer.main"),
    ServiceSpec("api", "civicsight.services.api.main"),
)
TOOLS = {
    ("bench", "detect"): "civicsight.bench.detect",
    ("bench", "gpu"): "civicsight.bench.detect_gpu",
    ("bench", "journeys"): "civicsight.bench.journeys",
    ("bench", "latency"): "civicsight.bench.latency",
    ("bench", "search"): "civicsight.bench.search",
    ("bench", "uploads"): "civicsight.bench.uploads",
    ("bench", "wall"): "civicsight.bench.wall",
    ("models", ""): "civicsight.models.cli",
    ("eval", "plates"): "civicsight.services.plates.eval",
    ("eval", "faces"): "civicsight.services.faces.eval",
    ("eval", "reid"): "civicsight.services.reid.eval",
    ("eval", "mtmc"): "civicsight.streams.eval_mtmc",
    ("eval", "traffic"): "civicsight.streams.eval_traffic",
    ("replay", ""): "civicsight.streams.replay",
    ("watchlist", ""): "civicsight.services.faces.watchlist_cli",
    ("privacy", "report"): "civicsight.tools.privacy_report",
    ("dashboards", ""): "civicsight.dashboards.cli",
    ("traffic", ""): "civicsight.tools.traffic",
}
METRICS_PORT_VAR = "CIVICSIGHT_METRICS_PORT"
CLI_ROLE = "local"
"""The role the command line acts in: it has no login; access to the hub host is the
control."""


def hub_services(metrics_base: int) -> list[ServiceSpec]:
    """Every service of the hub, each told its own metrics port (``metrics_base`` and up,
    in the order of ``SERVICES``; 0: metrics off)."""
    ports = metrics_ports([s.name for s in SERVICES], metrics_base)
    return [
        ServiceSpec(
            s.name, s.module, {**s.env, "CIVICSIGHT_METRICS_PORT": str(ports.get(s.name, 0))}
        )
        for s in SERVICES
    ]


class UpSettings(HubSettings, CameraFiles, MediaSource, ModelSource):
    api_port: int = Field(8080, ge=1, le=65535, description="port of the API and web UI")
    prometheus_bin: str = Field(
        "prometheus",
        description="the Prometheus server `up --prometheus` runs (a path, or a name on "
        "PATH; Debian's package: scripts/prometheus-deps.sh)",
    )
    prometheus_port: int = Field(
        0, ge=0, le=65535, description="port of `up --prometheus`'s Prometheus (0: a free one)"
    )
    prometheus_scrape_s: float = Field(
        15.0, ge=1, le=300, description="how often `up --prometheus` scrapes each process"
    )
    media_download: bool = Field(False, description="download missing demo media from source")
    retention_every_s: float = Field(
        3600.0, gt=0, le=86400, description="how often the hub enforces the retention policy"
    )
    demo_token_hours: float = Field(
        12.0, gt=0, le=168, description="how long the investigator token `up --demo` prints lives"
    )
    audit_check_every_s: float = Field(
        86400.0,
        gt=0,
        le=7 * 86400,
        description="how often the hub verifies the audit log's chain (also at start; each "
        "result is recorded as audit.verified)",
    )

    @model_validator(mode="after")
    def _ports_apart(self) -> UpSettings:
        ports = metrics_ports([s.name for s in SERVICES], self.metrics_port).values()
        if self.api_port in ports:
            raise ValueError(
                f"CIVICSIGHT_API_PORT {self.api_port} is among the metrics ports "
                f"({min(ports)}-{max(ports)}): /metrics never shares the public API port"
            )
        return self


class TokenSettings(HubSettings):
    token_days: float = Field(
        30.0, gt=0, le=366, description="how long a token from `civicsight token issue` lives"
    )


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def _issue_token(data_dir: Path, role: str, label: str, ttl_s: float) -> str:
    """A new token, with its issue in the audit log (never the token itself)."""
    tokens = TokenStore(auth_db_path(data_dir))
    tokens.open()
    try:
        token = tokens.issue(role, label, ttl_s)
        who = tokens.verify(token)
    finally:
        tokens.close()
    token_id = who.token_id if who else "?"
    details = {"token_id": token_id, "token_role": role, "label": label, "ttl_s": ttl_s}
    _audit_local(data_dir, "token.issue", details)
    return token


def cmd_up(args: argparse.Namespace) -> int:
    settings = UpSettings()
    setup_logging(settings.log_level)
    try:
        policy = settings.retention_policy()
    except RetentionError as err:
        log.error("%s", err)
        return 2
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "CIVICSIGHT_DATA_DIR": str(data_dir),
        "CIVICSIGHT_API_PORT": str(settings.api_port),
        "YOLO_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    if settings.model_mirror:
        env["CIVICSIGHT_MODEL_MIRROR"] = str(settings.model_mirror.resolve())
    cameras_dir = settings.cameras_dir
    if args.demo:
        try:
            media = ensure_media(
                data_path("demo-media.yaml"),
                settings.media_mirror,
                data_dir / "media",
                settings.media_download,
            )
        except MediaUnavailableError as err:
            log.error("%s", err)
            return 2
        env["CIVICSIGHT_MEDIA_MIRROR"] = str(media.resolve())
        cameras_dir = demo_cameras(data_dir)
    elif settings.media_mirror:
        env["CIVICSIGHT_MEDIA_MIRROR"] = str(settings.media_mirror.resolve())
    env["CIVICSIGHT_CAMERAS_DIR"] = str(cameras_dir.resolve())

    broker: EmbeddedBroker | None = None
    if "kafka_bootstrap" in settings.model_fields_set:
        kafka = settings.kafka_config()
        log.info("using the Kafka cluster at %s", settings.kafka_bootstrap)
    else:
        broker = EmbeddedBroker(log_file=data_dir / "broker.log")
        broker.start()
        env["CIVICSIGHT_KAFKA_BOOTSTRAP"] = broker.bootstrap
        kafka = {"bootstrap.servers": broker.bootstrap}
        log.info("embedded tansu broker on %s", broker.bootstrap)
    if settings.retention_file:
        env["CIVICSIGHT_RETENTION_FILE"] = str(settings.retention_file.resolve())
    stop = stop_on_signals()
    try:
        created = ensure_topics(kafka, policy=policy)
        log.info("topics ready (%d created)", len(created))
        run_every(data_dir, policy, settings.retention_every_s, stop)
        check_every(data_dir, settings.audit_check_every_s, stop)
        specs = hub_services(settings.metrics_port)
        print(metrics_endpoints(specs, data_dir), flush=True)
        if args.prometheus:
            specs += prometheus_child(settings, data_dir)
        supervisor = Supervisor(specs, env)
        with supervisor.running():
            url = f"http://127.0.0.1:{settings.api_port}"
            if _wait_http(url + "/api/health", 60):
                greeting = welcome(data_dir, url, args.demo, settings.demo_token_hours)
                print(greeting, flush=True)
            supervisor.run_forever(stop)
    finally:
        if broker is not None:
            broker.stop()
    return 0


def metrics_endpoints(specs: list[ServiceSpec], data_dir: Path) -> str:
    """The metrics endpoints of the hub's processes, and the targets file listing them
    (written here) for Prometheus' file-based service discovery."""
    ports = {s.name: int(s.env[METRICS_PORT_VAR]) for s in specs}
    if not any(ports.values()):
        return "\n  Metrics are off (CIVICSIGHT_METRICS_PORT=0)"
    targets = write_targets(data_dir, {name: port for name, port in ports.items() if port})
    lines = ["\n  Metrics (Prometheus text format):"]
    lines += [f"    {name:<8} http://127.0.0.1:{port}/metrics" for name, port in ports.items()]
    lines.append(f"  Targets for Prometheus (file_sd_configs): {targets}")
    return "\n".join(lines)


def prometheus_child(settings: UpSettings, data_dir: Path) -> list[ServiceSpec]:
    """``up --prometheus``: Debian's Prometheus scraping the hub as one more supervised
    child, or nothing (with why) when it is not installed or the metrics are off."""
    binary = prometheus_binary(settings.prometheus_bin)
    if binary is None:
        log.error(
            "--prometheus: no %r on this machine; install Debian's package (sudo "
            "scripts/prometheus-deps.sh, or apt-get install prometheus) or set "
            "CIVICSIGHT_PROMETHEUS_BIN. The hub runs without it.",
            settings.prometheus_bin,
        )
        return []
    if not settings.metrics_port:
        log.error("--prometheus: metrics are off (CIVICSIGHT_METRICS_PORT=0): nothing to scrape")
        return []
    port = settings.prometheus_port or free_port()
    write_config(data_dir, settings.prometheus_scrape_s)
    print(f"  Prometheus: http://127.0.0.1:{port} (data in {data_dir / 'prometheus'})", flush=True)
    return [ServiceSpec("prometheus", command=tuple(prometheus_argv(binary, data_dir, port)))]


def demo_cameras(data_dir: Path) -> Path:
    """The demo's cameras folder, ``<data_dir>/cameras``: the demo camera files are copied
    there when missing, and files already there are kept. Rules saved through the API so
    survive restarts, and the API never writes into the source checkout."""
    folder = data_dir / "cameras"
    folder.mkdir(parents=True, exist_ok=True)
    for src in sorted(DEMO_CAMERAS.glob("*.yaml")):
        dst = folder / src.name
        if not dst.exists():
            shutil.copyfile(src, dst)
    return folder


def welcome(data_dir: Path, url: str, demo: bool, demo_token_hours: float) -> str:
    """What ``civicsight up`` prints once the API answers. On a hub without users it
    creates ``admin`` with a one-time password; with ``--demo`` it issues an investigator
    token that lives ``demo_token_hours``. Both are audited (never the secrets)."""
    from civicsight.users import UserStore

    lines = []
    users = UserStore(auth_db_path(data_dir))
    users.open()
    try:
        first = users.ensure_first_admin(time.time())
    finally:
        users.close()
    if first:
        details = {"user": "admin", "user_role": "admin", "first_admin": True}
        _audit_local(data_dir, "user.add", details)
        lines.append(
            f"\n  First start: user 'admin', one-time password {first}\n"
            "  (shown only now; it must be changed at the first sign-in)"
        )
    if demo:
        token = _issue_token(data_dir, "investigator", "demo", demo_token_hours * 3600)
        lines.append(
            f"\n  CivicSight control room: {url}/#token={token}\n"
            f"  (a new investigator token for this data folder, valid {demo_token_hours:g} h: "
            "searches ask for a case id and a purpose; Ctrl-C stops the hub)\n"
        )
    else:
        lines.append(
            f"\n  CivicSight API on {url} (sign in, or get a token: civicsight token issue "
            "--role ROLE)\n"
        )
    return "\n".join(lines)


def cmd_user(args: argparse.Namespace) -> int:
    from civicsight.users import UserStore

    settings = HubSettings()
    users = UserStore(settings.data_dir / "auth.db")
    users.open()
    try:
        secret = users.add(args.name, args.role, time.time())
    except ValueError as err:
        print(f"civicsight user: {err}", file=sys.stderr)
        return 2
    finally:
        users.close()
    _audit_local(settings.data_dir, "user.add", {"user": args.name, "user_role": args.role})
    print(secret)
    print(
        f"user {args.name} ({args.role}) added; that one-time password is shown only now and "
        "must be changed at the first sign-in",
        file=sys.stderr,
    )
    return 0


def _audit_local(data_dir: Path, action: str, details: dict[str, object]) -> None:
    """An administrator's command on the hub host, in the audit log under their OS user."""
    import getpass

    with AuditLog(data_dir) as audit:
        audit.append(getpass.getuser(), CLI_ROLE, action, details)


def cmd_token(args: argparse.Namespace) -> int:
    """``civicsight token issue | list | revoke``."""
    settings = TokenSettings()
    data_dir = settings.data_dir
    if args.what == "issue":
        ttl_s = args.hours * 3600 if args.hours else (args.days or settings.token_days) * 86400
        try:
            token = _issue_token(data_dir, args.role, args.label, ttl_s)
        except ValueError as err:
            print(f"civicsight token: {err}", file=sys.stderr)
            return 2
        print(token)
        print(
            f"issued a {args.role} token for {args.label!r}, valid until "
            f"{_iso(time.time() + ttl_s)}; it is shown only now. Open the control room with "
            "http://HOST:PORT/#token=<token>",
            file=sys.stderr,
        )
        return 0
    tokens = TokenStore(auth_db_path(data_dir))
    tokens.open()
    try:
        if args.what == "list":
            now = time.time()
            listed = tokens.issued()
            if args.json:
                print(json.dumps([{**t.__dict__, "live": t.live(now)} for t in listed], indent=2))
                return 0
            for t in listed:
                state = (
                    f"revoked {_iso(t.revoked_at)}"
                    if t.revoked_at
                    else f"expires {_iso(t.expires_at)}"
                    if t.live(now)
                    else f"expired {_iso(t.expires_at)}"
                )
                print(f"{t.token_id}\t{t.role.value}\t{t.label}\t{_iso(t.created_at)}\t{state}")
            return 0
        if not tokens.revoke(args.token_id):
            print(f"civicsight token: no live token {args.token_id!r}", file=sys.stderr)
            return 1
    finally:
        tokens.close()
    _audit_local(data_dir, "token.revoke", {"token_id": args.token_id, "why": "revoked"})
    print(f"revoked {args.token_id}")
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    if args.yaml:
        sys.stdout.write(render_yaml())
        return 0
    settings = HubSettings()
    for name in ensure_topics(settings.kafka_config(), policy=settings.retention_policy()):
        print(f"created {name}")
    return 0


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


def parse_time(text: str) -> float:
    """Unix seconds, or an ISO 8601 date/time (UTC unless it says otherwise)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give Unix seconds or an ISO date such as 2026-05-01"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def cmd_audit(args: argparse.Namespace) -> int:
    settings = HubSettings()
    if not (settings.data_dir / "audit.db").exists():
        print(f"error: no audit log in {settings.data_dir}", file=sys.stderr)
        return 2
    with AuditLog(settings.data_dir) as audit:
        if args.what == "verify":
            result = audit.verify()
            print(result, file=sys.stdout if result.ok else sys.stderr)
            return 0 if result.ok else 1
        entries = audit.entries(since=args.since, action=args.action)
    if args.json:
        print(json.dumps([e.model_dump() for e in entries], indent=2))
        return 0
    for e in entries:
        details = json.dumps(e.details, sort_keys=True, ensure_ascii=False)
        print(f"#{e.seq}\t{_iso(e.at)}\t{e.actor}\t{e.role}\t{e.action}\t{details}")
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    settings = HubSettings()
    with AuditLog(settings.data_dir) as audit:
        store = AlertStore(settings.data_dir / "alerts.db", audit)
        store.open()
        try:
            if args.what == "list":
                alerts = store.alerts(args.state)
                if args.json:
                    print(json.dumps([a.model_dump() for a in alerts], indent=2))
                    return 0
                for a in alerts:
                    who = ",".join(c.user for c in a.confirmations) or "-"
                    print(
                        f"{a.alert_id}\t{a.state}\t{a.camera_id}/{a.track_id}\t"
                        f"{a.watchlist_id}/{a.entry_id}\t{a.score:.2f}\t{_iso(a.first_at)}\t"
                        f"confirmed by {who}"
                    )
                return 0
            if args.what == "confirm":
                alert = store.confirm(args.alert, args.user, CLI_ROLE, time.time())
                need = "" if alert.state == "confirmed" else " (a second person must confirm)"
                print(f"{alert.alert_id}: {alert.state}{need}")
            else:
                alert = store.dismiss(args.alert, args.user, CLI_ROLE, time.time(), args.reason)
                print(f"{alert.alert_id}: dismissed")
            return 0
        except AlertError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        finally:
            store.close()


def cmd_retention(args: argparse.Namespace) -> int:
    settings = HubSettings()
    try:
        policy = settings.retention_policy()
    except RetentionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    done = run_once(settings.data_dir, policy, time.time() if args.now is None else args.now)
    if args.json:
        print(json.dumps([p.__dict__ for p in done], indent=2))
    else:
        for p in done:
            print(f"{p.data_class}\tbefore {_iso(p.before)}\tdeleted {p.deleted}")
    return 0


def cmd_tool(module: str, rest: list[str]) -> int:
    return subprocess.call([sys.executable, "-m", module, *rest])


def option_value(rest: list[str], name: str) -> str:
    """The value of ``name`` in a tool's arguments (``--x v`` or ``--x=v``), or ``""``."""
    for i, arg in enumerate(rest):
        if arg == name and i + 1 < len(rest):
            return rest[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return ""


def tool_module(command: str, what: str, rest: list[str]) -> str:
    """The module a tool runs as; ``bench detect --device cuda...`` is the torch GPU path."""
    if (command, what) == ("bench", "detect") and option_value(rest, "--device").startswith("cuda"):
        return TOOLS[("bench", "gpu")]
    return TOOLS[(command, what)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="civicsight", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser(
        "up",
        help="run the whole hub (embedded broker unless "
        "CIVICSIGHT_KAFKA_BOOTSTRAP names a cluster)",
    )
    up.add_argument("--demo", action="store_true", help="add the sample cameras")
    up.add_argument(
        "--prometheus",
        action="store_true",
        help="also run Debian's prometheus scraping every process (storage in the data dir)",
    )
    up.set_defaults(func=cmd_up)
    token = sub.add_parser("token", help="API tokens: issue | list | revoke (all audited)")
    token_sub = token.add_subparsers(dest="what", required=True)
    t_issue = token_sub.add_parser("issue", help="print a new token (shown only once)")
    t_issue.add_argument("--role", required=True, choices=[r.value for r in Role])
    t_issue.add_argument("--label", default="cli", help="who or what the token is for")
    life = t_issue.add_mutually_exclusive_group()
    life.add_argument(
        "--days", type=float, help="valid this many days (default CIVICSIGHT_TOKEN_DAYS, 30)"
    )
    life.add_argument("--hours", type=float, help="valid this many hours")
    t_list = token_sub.add_parser("list", help="every token: id, role, label, state")
    t_list.add_argument("--json", action="store_true")
    t_revoke = token_sub.add_parser("revoke", help="revoke a token by its id (see list)")
    t_revoke.add_argument("token_id")
    token.set_defaults(func=cmd_token)
    user = sub.add_parser("user", help="add a user who signs in with a password")
    user_sub = user.add_subparsers(dest="action", required=True)
    add = user_sub.add_parser("add", help="add a user; prints a one-time password")
    add.add_argument("name", help="user name: a-z first, then a-z 0-9 . _ -")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.set_defaults(func=cmd_user)
    topics = sub.add_parser("topics", help="create the topics, or print them as YAML")
    topics.add_argument("--yaml", action="store_true", help="print infra/kafka/topics.yaml")
    topics.set_defaults(func=cmd_topics)
    models = sub.add_parser(
        "models", help="list | verify | pull the registry's models", add_help=False
    )
    models.add_argument("rest", nargs=argparse.REMAINDER)
    watchlist = sub.add_parser(
        "watchlist", help="face watchlist: add | list | remove", add_help=False
    )
    watchlist.add_argument("rest", nargs=argparse.REMAINDER)
    audit = sub.add_parser("audit", help="the audit log: verify the chain, or show entries")
    audit.add_argument("what", choices=["verify", "show"])
    audit.add_argument("--since", type=parse_time, help="Unix seconds or ISO date (show)")
    audit.add_argument("--action", help="only this action, e.g. search.tracks (show)")
    audit.add_argument("--json", action="store_true", help="print JSON (show)")
    audit.set_defaults(func=cmd_audit)
    alerts = sub.add_parser("alerts", help="watchlist alerts: list | confirm | dismiss")
    alerts_sub = alerts.add_subparsers(dest="what", required=True)
    a_list = alerts_sub.add_parser("list", help="list alerts")
    a_list.add_argument("--state", choices=["new", "confirmed", "dismissed"])
    a_list.add_argument("--json", action="store_true")
    a_confirm = alerts_sub.add_parser("confirm", help="confirm (two different people needed)")
    a_confirm.add_argument("alert")
    a_confirm.add_argument("--user", required=True, help="who is confirming")
    a_dismiss = alerts_sub.add_parser("dismiss", help="dismiss with a reason")
    a_dismiss.add_argument("alert")
    a_dismiss.add_argument("--user", required=True, help="who is dismissing")
    a_dismiss.add_argument("--reason", required=True)
    alerts.set_defaults(func=cmd_alerts)
    retention = sub.add_parser("retention", help="enforce the retention policy once")
    retention.add_argument("what", choices=["run"])
    retention.add_argument("--now", type=parse_time, help="the time to enforce at (default: now)")
    retention.add_argument("--json", action="store_true")
    retention.set_defaults(func=cmd_retention)
    privacy = sub.add_parser("privacy", help="privacy report (input for a DPIA)")
    privacy.add_argument("what", choices=["report"])
    privacy.add_argument("rest", nargs=argparse.REMAINDER)
    traffic = sub.add_parser(
        "traffic",
        help="traffic tables for authorities: export (CSV, Parquet) | report (HTML)",
        add_help=False,
    )
    traffic.add_argument("rest", nargs=argparse.REMAINDER)
    replay = sub.add_parser(
        "replay", help="replay a multi-camera scenario through the broker", add_help=False
    )
    replay.add_argument("rest", nargs=argparse.REMAINDER)
    dashboards = sub.add_parser(
        "dashboards", help="Grafana dashboards: build (JSON) | push (upload)", add_help=False
    )
    dashboards.add_argument("rest", nargs=argparse.REMAINDER)
    evaluate = sub.add_parser("eval", help="accuracy of a perception service on sample data")
    evaluate.add_argument("what", choices=sorted({w for g, w in TOOLS if g == "eval"}))
    evaluate.add_argument("rest", nargs=argparse.REMAINDER)
    bench = sub.add_parser("bench", help="benchmarks (JSON output)")
    bench.add_argument("what", choices=sorted({w for g, w in TOOLS if g == "bench"}))
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("bench", "eval", "privacy"):
        return cmd_tool(tool_module(args.command, args.what, args.rest), args.rest)
    if args.command in ("models", "watchlist", "replay", "dashboards", "traffic"):
        return cmd_tool(TOOLS[(args.command, "")], args.rest)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
