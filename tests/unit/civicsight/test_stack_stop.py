"""``stop_process``: a child asked to stop goes; one that ignores the signal is killed."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from civicsight.stack import stop_process

READY = "import signal, time\nprint('ready', flush=True)\n"
POLITE = (  # handles SIGINT itself, as the hub's services do (stop_on_signals): a child
    # inherits an ignored SIGINT from a background job, and Python then leaves it ignored
    "import signal, time\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "try:\n    print('ready', flush=True)\n    time.sleep(60)\n"
    "except KeyboardInterrupt:\n    raise SystemExit(0)"
)
DEAF = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n" + READY + "time.sleep(60)"


@pytest.mark.parametrize(
    ("code", "timeout", "expected"),
    [(POLITE, 30.0, 0), (DEAF, 1.0, -signal.SIGKILL)],
    ids=["stops on SIGINT", "a child that ignores SIGINT is killed after the timeout"],
)
def test_stop_process(code: str, timeout: float, expected: int) -> None:
    """Guards a child left running after its hub stopped."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    assert stop_process(proc, timeout=timeout) == expected
