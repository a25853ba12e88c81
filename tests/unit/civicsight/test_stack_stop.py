"""``stop_process``: a child asked to stop goes; one that ignores the signal is killed."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from civicsight.stack import stop_process

READY = "import signal, time\nprint('ready', flush=True)\n"
POLITE = (
    "import time\ntry:\n    print('ready', flush=True)\n    time.sleep(60)\n"
    "except KeyboardInterrupt:\n    raise SystemExit(0)"
)
DEAF = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n" + READY + "time.sleep(60)"


@pytest.mark.parametrize(
    ("code", "timeout", "expected"),
    [(POLITE, 30.0, 0), (DEAF, 1.0, -signal.SIGKILL)],
    ids=["stops on SIGINT", "a child that ignores SIGINT is killed after the timeout"],
)
def test_stop_process(code: str, timeout: float, expected: int) -> None:
    """Guards a child left running after its hub stopped; the polite child gets a long
    timeout, as a loaded CI machine once took over a second to let it exit."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    assert stop_process(proc, timeout=timeout) == expected
