"""The hub's processes as Prometheus targets, and Debian's ``prometheus`` to scrape them.

``civicsight up`` gives each child its own metrics port, counting up from
``CIVICSIGHT_METRICS_PORT`` (``metrics_ports``), and writes them to
``<data dir>/prometheus-targets.json`` in Prometheus' file-based service discovery format
(one group per process, labelled ``service``; ``write_targets``). Any Prometheus can
scrape the hub with a ``file_sd_configs`` entry on that file; ``civicsight up
--prometheus`` runs Debian's ``prometheus`` itself with a generated configuration
(``scrape_config``): storage in ``<data dir>/prometheus``, listening on 127.0.0.1 only.

The documents are built by pure functions; the writes are atomic (Prometheus watches the
targets file and must never read half of one).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

__all__ = [
    "JOB",
    "TARGETS_FILE",
    "metrics_ports",
    "prometheus_argv",
    "prometheus_binary",
    "scrape_config",
    "targets_document",
    "write_atomic",
    "write_config",
    "write_targets",
]

LOOPBACK = "127.0.0.1"
TARGETS_FILE = "prometheus-targets.json"
CONFIG_FILE = "prometheus.yml"
STORAGE_DIR = "prometheus"
JOB = "civicsight"
"""The scrape job's name (the ``job`` label of every hub series)."""


def metrics_ports(names: Sequence[str], base: int) -> dict[str, int]:
    """Each process its port: ``base``, ``base + 1``, ... in the order given; none when
    ``base`` is 0 (metrics off)."""
    if base == 0:
        return {}
    if base + len(names) - 1 > 65535:
        raise ValueError(f"metrics ports {base}..{base + len(names) - 1} run past 65535")
    return {name: base + i for i, name in enumerate(names)}


def targets_document(ports: Mapping[str, int], host: str = LOOPBACK) -> list[dict[str, object]]:
    """Prometheus' file-based service discovery document: one target group per process,
    labelled with its ``service``."""
    return [
        {"targets": [f"{host}:{port}"], "labels": {"service": name}} for name, port in ports.items()
    ]


def scrape_config(targets_file: Path, scrape_s: float) -> str:
    """A Prometheus configuration scraping the hub: one job over the targets file."""
    interval = f"{max(1, round(scrape_s))}s"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": JOB,
                "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": "10s"}],
            }
        ],
    }
    return str(yaml.safe_dump(config, sort_keys=False))


def prometheus_argv(binary: Path, data_dir: Path, port: int) -> list[str]:
    """The command line of a Prometheus scraping the hub of ``data_dir``."""
    return [
        str(binary),
        f"--config.file={data_dir / CONFIG_FILE}",
        f"--storage.tsdb.path={data_dir / STORAGE_DIR}",
        f"--web.listen-address={LOOPBACK}:{port}",
        "--log.level=warn",  # its start-up chatter would drown the hub's lines
    ]


def prometheus_binary(name: str) -> Path | None:
    """The ``prometheus`` executable (a path or a name on PATH), or None when missing."""
    found = shutil.which(name)
    return Path(found) if found else None


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new, whole."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_targets(data_dir: Path, ports: Mapping[str, int]) -> Path:
    """``<data_dir>/prometheus-targets.json`` for ``ports``; returns its path."""
    path = data_dir / TARGETS_FILE
    write_atomic(path, json.dumps(targets_document(ports), indent=2) + "\n")
    return path


def write_config(data_dir: Path, scrape_s: float) -> Path:
    """``<data_dir>/prometheus.yml`` scraping the targets file; returns its path."""
    path = data_dir / CONFIG_FILE
    write_atomic(path, scrape_config(data_dir / TARGETS_FILE, scrape_s))
    (data_dir / STORAGE_DIR).mkdir(exist_ok=True)
    return path
