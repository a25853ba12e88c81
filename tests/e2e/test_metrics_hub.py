"""Metrics of the whole hub, as an operator gets them: ``civicsight up --demo
--prometheus`` (the embedded broker, every service, Debian's prometheus as one more
child), then every PromQL expression of the Operations dashboard run against that real
Prometheus scraping that real hub, each with a non-empty result."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from civicsight.cli import SERVICES
from civicsight.dashboards.build import ROOT
from civicsight.dashboards.queries import expand, of_type
from civicsight.metric_names import FORBIDDEN_LABELS
from civicsight.prometheus import prometheus_binary
from civicsight.stack import free_port

pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(
        prometheus_binary("prometheus") is None,
        reason="Debian's prometheus: scripts/prometheus-deps.sh",
    ),
]
REPO = Path(__file__).resolve().parents[2]


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports on 127.0.0.1."""
    for _ in range(50):
        base = free_port()
        if base + count > 65535:
            continue
        with contextlib.ExitStack() as held:
            try:
                for port in range(base, base + count):
                    s = held.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return base
    raise RuntimeError(f"no {count} consecutive free ports")


@dataclass
class Up:
    proc: subprocess.Popen[bytes]
    data: Path
    out: Path
    metrics_base: int
    prometheus: str
    api: str

    def printed(self) -> str:
        return self.out.read_text(errors="replace")

    def query(self, expr: str) -> list[dict[str, object]]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as resp:
            answer = json.loads(resp.read())
        assert answer["status"] == "success", answer
        return answer["data"]["result"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def up(
    tmp_path_factory: pytest.TempPathFactory, media_mirror: Path, model_mirror: Path
) -> Iterator[Up]:
    data = tmp_path_factory.mktemp("metrics-hub")
    base = free_ports(len(SERVICES))
    prometheus_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CIVICSIGHT_DATA_DIR": str(data),
        "CIVICSIGHT_API_PORT": str(api_port),
        "CIVICSIGHT_METRICS_PORT": str(base),
        "CIVICSIGHT_PROMETHEUS_PORT": str(prometheus_port),
        "CIVICSIGHT_PROMETHEUS_SCRAPE_S": "1",
        "CIVICSIGHT_MEDIA_MIRROR": str(media_mirror),
        "CIVICSIGHT_MODEL_MIRROR": str(model_mirror),
    }
    env.pop("CIVICSIGHT_KAFKA_BOOTSTRAP", None)  # the embedded broker
    out = data / "up.log"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "civicsight", "up", "--demo", "--prometheus"],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    hub = Up(
        proc,
        data,
        out,
        base,
        f"http://127.0.0.1:{prometheus_port}",
        f"http://127.0.0.1:{api_port}",
    )
    try:
        yield hub
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        sys.stderr.write(hub.printed()[-4000:])


def wait_for(check: object, timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            got = check()  # type: ignore[operator]
            if got:
                return got
        time.sleep(2.0)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_up_prints_the_endpoints_and_writes_the_targets_file(up: Up) -> None:
    """Guards `up` listing endpoints the children do not serve, a targets file
    Prometheus cannot use, and `--prometheus` not starting Prometheus."""
    wait_for(lambda: "Prometheus: http://127.0.0.1" in up.printed(), 120, "Prometheus started")
    targets = json.loads((up.data / "prometheus-targets.json").read_text())
    assert [t["labels"]["service"] for t in targets] == [s.name for s in SERVICES]
    for i in range(len(SERVICES)):
        assert f"http://127.0.0.1:{up.metrics_base + i}/metrics" in up.printed()

    def all_up() -> bool:
        result = up.query('up{job="civicsight"}')
        return len(result) == len(SERVICES) and all(r["value"][1] == "1" for r in result)  # type: ignore[index]

    wait_for(all_up, 300, "every process scraped and up")


def test_every_operations_expression_has_data_from_the_running_hub(up: Up) -> None:
    """Guards a dashboard panel that parses but stays empty against a real hub: a
    metric never reported, a label the expression groups by that is not there, a
    histogram never observed. Each expression of the Operations dashboard, with
    Grafana's variables put in, must return a series with a number (a quantile over a
    window without observations is NaN: waited for until the hub has made some)."""
    dashboard = json.loads((ROOT / "build/operations.json").read_text())
    exprs = sorted({expand(t.query["expr"]) for t in of_type(dashboard, "prometheus")})
    waiting = set(exprs)
    deadline = time.monotonic() + 480
    while waiting and time.monotonic() < deadline:
        with contextlib.suppress(OSError):  # requests for the API's latency to measure
            urllib.request.urlopen(f"{up.api}/api/health", timeout=10).close()
        for expr in sorted(waiting):
            with contextlib.suppress(OSError):
                if any(r["value"][1] != "NaN" for r in up.query(expr)):  # type: ignore[index]
                    waiting.discard(expr)
        if waiting:
            time.sleep(5)
    assert not waiting, f"no number after 8 min for: {sorted(waiting)}"


def test_no_metric_names_a_track_a_plate_or_a_person(up: Up) -> None:
    """Guards privacy on the wire: no label of any process's /metrics is one that
    identifies, and no track id appears as a label value."""
    for i in range(len(SERVICES)):
        url = f"http://127.0.0.1:{up.metrics_base + i}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        labels = set(re.findall(r'[{,]([a-z_]+)="', text))
        assert not labels & FORBIDDEN_LABELS, (url, labels)
        assert not re.search(r'="g-[0-9a-f]{16}"', text), url
