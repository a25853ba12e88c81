"""The log redaction: URL credentials, secret query parameters and tokens never reach a
log line, whatever logger, handler or argument carries them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from civicsight.logs import redact

REPO = Path(__file__).resolve().parents[3]
TOKEN = "cs_" + "Zq3" * 12


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("cannot open rtsp://admin:hunter2@10.0.0.5:554/s", "hunter2", "rtsp://***@10.0.0.5"),
        ("rtsps://onlytoken@cam/s", "onlytoken", "rtsps://***@cam/s"),
        ("url=http://u:p%40ss@h/x", "p%40ss", "http://***@h/x"),
        ("GET /x?camera=1&token=abc123def", "abc123def", "camera=1&token=***"),
        ("rtsp://cam/s?password=hunter2&x=1", "hunter2", "password=***&x=1"),
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi", "Bearer ***"),
        (f"token {TOKEN} issued", TOKEN, "cs_***"),
        ("media:clip.mp4 at 5 fps", "", "media:clip.mp4 at 5 fps"),
    ],
)
def test_redact(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert kept in out
    if secret:
        assert secret not in out


SCRIPT = """
import logging, sys
from civicsight.logs import setup_logging
setup_logging("DEBUG")
log = logging.getLogger("some.library")
url = "rtsp://admin:hunter2@10.0.0.5/stream?token=qwerty99"
log.warning("cannot open %s", url)
log.info(url)
log.info("%(u)s", {"u": url})
log.info("token %s", "TOKEN")
log.info("error: %s", ValueError("failed " + url))
try:
    raise RuntimeError("boom " + url)
except RuntimeError:
    log.exception("camera stopped")
other = logging.StreamHandler(sys.stderr)  # a handler a library adds later
logging.getLogger("lib2").addHandler(other)
logging.getLogger("lib2").propagate = False
logging.getLogger("lib2").error("lib2 %s", url)
"""


def test_no_record_of_the_process_carries_a_secret() -> None:
    """Guards against a password or token reaching stderr through a plain message, %-args,
    a dict arg, an exception's text, a traceback or a library's own handler."""
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.replace("TOKEN", TOKEN)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert err.count("rtsp://***@10.0.0.5") >= 6, err
    for secret in ("hunter2", "qwerty99", TOKEN):
        assert secret not in err, err
