"""The supervisor: crashed services restart with backoff, logs carry the service name."""

from __future__ import annotations

import io
import time
from pathlib import Path

from civicsight.stack import ServiceSpec, Supervisor

CRASHER = """
import sys, time
print("starting", flush=True)
time.sleep(0.3)
sys.exit(3)
"""
STEADY = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: (print("bye", flush=True), sys.exit(0)))
print("up", flush=True)
while True:
    time.sleep(0.1)
"""


def test_crashed_service_restarts_and_stop_is_clean(tmp_path: Path) -> None:
    (tmp_path / "crasher.py").write_text(CRASHER)
    (tmp_path / "steady.py").write_text(STEADY)
    out = io.StringIO()
    sup = Supervisor(
        [ServiceSpec("crasher", "crasher"), ServiceSpec("steady", "steady")],
        {"PYTHONPATH": str(tmp_path)},
        out=out,
        max_backoff=0.5,
    )
    sup.start()
    steady_pid = sup.pid("steady")
    deadline = time.monotonic() + 15
    while sup.restarts("crasher") < 2 and time.monotonic() < deadline:
        sup.check()
        time.sleep(0.1)
    sup.stop()
    text = out.getvalue()
    assert sup.restarts("crasher") >= 2
    assert sup.restarts("steady") == 0 and sup.pid("steady") == steady_pid
    assert "  crasher | starting" in text and "   steady | up" in text
    time.sleep(0.3)
    assert "   steady | bye" in out.getvalue()  # SIGTERM reached it: clean stop
