"""The hub as Prometheus targets: one port per process, the file_sd targets file, and
the configuration ``up --prometheus`` gives Debian's prometheus (checked by promtool)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from civicsight.prometheus import (
    metrics_ports,
    prometheus_argv,
    scrape_config,
    targets_document,
    write_config,
    write_targets,
)

PROMTOOL = shutil.which("promtool")


@pytest.mark.parametrize(
    ("names", "base", "ports"),
    [
        (["ingest", "detect", "api"], 9400, {"ingest": 9400, "detect": 9401, "api": 9402}),
        (["ingest"], 20000, {"ingest": 20000}),
        (["ingest", "detect"], 0, {}),
    ],
)
def test_each_process_gets_its_own_port(names: list[str], base: int, ports: dict[str, int]) -> None:
    """Guards two children told the same port (the second one loses its endpoint)."""
    assert metrics_ports(names, base) == ports


def test_ports_past_the_last_one_are_refused() -> None:
    with pytest.raises(ValueError, match="65535"):
        metrics_ports(["a", "b", "c"], 65534)


def test_targets_file_is_file_sd_with_a_service_label(tmp_path: Path) -> None:
    """Guards a targets file Prometheus cannot read (file_sd wants a list of groups of
    targets and labels) or without the service label the dashboards group by."""
    path = write_targets(tmp_path, {"ingest": 9400, "api": 9407})
    assert path == tmp_path / "prometheus-targets.json"
    assert json.loads(path.read_text()) == [
        {"targets": ["127.0.0.1:9400"], "labels": {"service": "ingest"}},
        {"targets": ["127.0.0.1:9407"], "labels": {"service": "api"}},
    ]
    assert targets_document({}) == []
    assert not list(tmp_path.glob(".*.tmp"))  # written whole, then renamed


@pytest.mark.skipif(PROMTOOL is None, reason="Debian's prometheus: scripts/prometheus-deps.sh")
def test_promtool_accepts_the_generated_configuration(tmp_path: Path) -> None:
    """Guards `up --prometheus` starting a Prometheus that refuses its configuration
    (a supervised child restarting forever)."""
    assert PROMTOOL is not None
    write_targets(tmp_path, {"ingest": 9400})
    config = write_config(tmp_path, 15)
    done = subprocess.run(
        [PROMTOOL, "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "prometheus").is_dir()


def test_scrape_interval_is_whole_seconds_and_the_listener_is_loopback(tmp_path: Path) -> None:
    assert "scrape_interval: 2s" in scrape_config(tmp_path / "t.json", 1.6)
    argv = prometheus_argv(Path("/usr/bin/prometheus"), tmp_path, 9090)
    assert "--web.listen-address=127.0.0.1:9090" in argv
    assert f"--storage.tsdb.path={tmp_path / 'prometheus'}" in argv
