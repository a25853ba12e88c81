"""The ``civicsight`` command. Tools above the kernel run by module name in a child process,
so the kernel never imports services/, streams/ or models/."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pydantic import Field

from civicsight.bus import ensure_topics, stop_on_signals
from civicsight.logs import setup_logging
from civicsight.media import MediaUnavailableError, ensure_media
from civicsight.settings import HubSettings
from civicsight.stack import EmbeddedBroker, ServiceSpec, Supervisor
from civicsight.topics import render_yaml

log = logging.getLogger("civicsight")
REPO = Path(__file__).resolve().parents[1]
DEMO_CAMERAS = REPO / "config" / "demo"

SERVICES = (
    ServiceSpec("ingest", "services.ingest.main"),
    ServiceSpec("detect", "services.detect.main"),
    ServiceSpec("faces", "services.faces.main"),
    ServiceSpec("reid", "services.reid.main"),
    ServiceSpec("plates", "services.plates.main"),
    ServiceSpec("stream", "streams.app"),
    ServiceSpec("indexer", "services.indexer.main"),
    ServiceSpec("api", "services.api.main"),
)
TOOLS = {
    ("bench", "detect"): "bench.detect",
    ("bench", "gpu"): "bench.detect_gpu",
    ("models", ""): "models.cli",
    ("eval", "plates"): "services.plates.eval",
    ("eval", "faces"): "services.faces.eval",
    ("eval", "reid"): "services.reid.eval",
    ("eval", "mtmc"): "streams.eval_mtmc",
    ("replay", ""): "streams.replay",
    ("watchlist", ""): "services.faces.watchlist_cli",
}


class UpSettings(HubSettings):
    api_port: int = Field(8080, ge=1, le=65535, description="port of the API and web UI")
    cameras_dir: Path = Field(Path("config/cameras"), description="folder of camera YAML files")
    media_mirror: Path | None = Field(None, description="offline folder of sample media")
    model_mirror: Path | None = Field(None, description="offline folder of model files")
    media_download: bool = Field(False, description="download missing demo media from source")


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


def _issue_token(data_dir: Path, role: str, label: str) -> str:
    from civicsight.auth import TokenStore

    tokens = TokenStore(data_dir / "auth.db")
    tokens.open()
    try:
        return tokens.issue(role, label)
    finally:
        tokens.close()


def cmd_up(args: argparse.Namespace) -> int:
    settings = UpSettings()
    setup_logging(settings.log_level)
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "CIVICSIGHT_DATA_DIR": str(data_dir),
        "CIVICSIGHT_API_PORT": str(settings.api_port),
        "YOLO_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    if settings.model_mirror:
        env["CIVICSIGHT_MODEL_MIRROR"] = str(settings.model_mirror.resolve())
    cameras_dir = settings.cameras_dir
    if args.demo:
        try:
            media = ensure_media(
                REPO / "config" / "demo-media.yaml",
                settings.media_mirror,
                data_dir / "media",
                settings.media_download,
            )
        except MediaUnavailableError as err:
            log.error("%s", err)
            return 2
        env["CIVICSIGHT_MEDIA_MIRROR"] = str(media.resolve())
        cameras_dir = DEMO_CAMERAS
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
    stop = stop_on_signals()
    try:
        created = ensure_topics(kafka)
        log.info("topics ready (%d created)", len(created))
        supervisor = Supervisor(list(SERVICES), env)
        with supervisor.running():
            url = f"http://127.0.0.1:{settings.api_port}"
            if _wait_http(url + "/api/health", 60):
                if args.demo:
                    token = _issue_token(data_dir, "admin", "demo")
                    print(
                        f"\n  CivicSight control room: {url}/#token={token}\n"
                        "  (a new admin token for this data folder; Ctrl-C stops the hub)\n",
                        flush=True,
                    )
                else:
                    print(
                        f"\n  CivicSight API on {url} (get a token: civicsight token "
                        "--role admin)\n",
                        flush=True,
                    )
            supervisor.run_forever(stop)
    finally:
        if broker is not None:
            broker.stop()
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    settings = HubSettings()
    print(_issue_token(settings.data_dir, args.role, args.label))
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    if args.yaml:
        sys.stdout.write(render_yaml())
        return 0
    settings = HubSettings()
    for name in ensure_topics(settings.kafka_config()):
        print(f"created {name}")
    return 0


def cmd_tool(module: str, rest: list[str]) -> int:
    return subprocess.call([sys.executable, "-m", module, *rest])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="civicsight", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser(
        "up",
        help="run the whole hub (embedded broker unless "
        "CIVICSIGHT_KAFKA_BOOTSTRAP names a cluster)",
    )
    up.add_argument("--demo", action="store_true", help="add the sample cameras")
    up.set_defaults(func=cmd_up)
    token = sub.add_parser("token", help="print a new API token for the local data dir")
    token.add_argument(
        "--role", required=True, choices=["admin", "operator", "investigator", "analyst"]
    )
    token.add_argument("--label", default="cli", help="who or what the token is for")
    token.set_defaults(func=cmd_token)
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
    replay = sub.add_parser(
        "replay", help="replay a multi-camera scenario through the broker", add_help=False
    )
    replay.add_argument("rest", nargs=argparse.REMAINDER)
    evaluate = sub.add_parser("eval", help="accuracy of a perception service on sample data")
    evaluate.add_argument("what", choices=sorted({w for g, w in TOOLS if g == "eval"}))
    evaluate.add_argument("rest", nargs=argparse.REMAINDER)
    bench = sub.add_parser("bench", help="benchmarks (JSON output)")
    bench.add_argument("what", choices=sorted({w for g, w in TOOLS if g == "bench"}))
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("bench", "eval"):
        return cmd_tool(TOOLS[(args.command, args.what)], args.rest)
    if args.command in ("models", "watchlist", "replay"):
        return cmd_tool(TOOLS[(args.command, "")], args.rest)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
