"""The `civicsight` command: token issuing, topics YAML, and the tool table."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from civicsight.auth import TokenStore
from civicsight.cli import SERVICES, TOOLS, build_parser
from civicsight.topics import render_yaml

REPO = Path(__file__).resolve().parents[3]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicsight", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **(env or {})},
    )


def test_token_prints_a_working_token_stored_hashed(tmp_path: Path) -> None:
    proc = run(
        "token",
        "--role",
        "investigator",
        "--label",
        "alice",
        env={"CIVICSIGHT_DATA_DIR": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip().splitlines()[-1]
    store = TokenStore(tmp_path / "auth.db")
    store.open()
    principal = store.verify(token)
    store.close()
    assert principal is not None and principal.role == "investigator"
    assert token.encode() not in (tmp_path / "auth.db").read_bytes()


@pytest.mark.parametrize("args", [["token"], ["token", "--role", "root"], ["nope"]])
def test_bad_usage_exits_2(args: list[str]) -> None:
    with pytest.raises(SystemExit) as err:
        build_parser().parse_args(args)
    assert err.value.code == 2


def test_topics_yaml() -> None:
    proc = run("topics", "--yaml")
    assert proc.returncode == 0 and proc.stdout == render_yaml()


@pytest.mark.parametrize("module", sorted({*TOOLS.values(), *(s.module for s in SERVICES)}))
def test_every_tool_and_service_module_exists(module: str) -> None:
    """Guards against the CLI naming a module that was renamed or never written."""
    assert importlib.util.find_spec(module) is not None


@pytest.mark.parametrize(
    ("what", "rest", "module"),
    [
        ("detect", [], "bench.detect"),
        ("detect", ["--device", "cpu"], "bench.detect"),
        ("detect", ["--device", "cuda", "--json"], "bench.detect_gpu"),
        ("detect", ["--json", "--device=cuda:1"], "bench.detect_gpu"),
        ("detect", ["--device"], "bench.detect"),
        ("gpu", [], "bench.detect_gpu"),
    ],
)
def test_bench_detect_on_cuda_runs_the_torch_path(what: str, rest: list[str], module: str) -> None:
    """Guards against `bench detect --device cuda` silently benchmarking the CPU path."""
    from civicsight.cli import tool_module

    assert tool_module("bench", what, rest) == module
