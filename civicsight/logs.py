"""Log set-up shared by services: one line per record, secrets never formatted in.

``setup_logging`` also installs ``redact`` for every log record of the process (a record
factory, so it covers every logger and handler, including libraries' own): passwords
and user names in URLs (``rtsp://user:pw@host`` -> ``rtsp://***@host``), secret query
parameters (``?token=...``), bearer tokens and CivicSight API tokens (``cs_...``) are
replaced before any handler sees the record, in the message, its arguments and the
traceback text.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"]+@"), r"\1***@"),
    (
        re.compile(
            r"([?&;](?:password|passwd|pwd|token|access_token|api_key|apikey|key|secret|"
            r"auth|signature|sig)=)[^&\s#'\"]+",
            re.IGNORECASE,
        ),
        r"\1***",
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"\bcs_[A-Za-z0-9_-]{6,}"), "cs_***"),
)


def redact(text: str) -> str:
    """``text`` with URL credentials, secret query parameters and tokens replaced."""
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_arg(value: Any) -> Any:
    if isinstance(value, int | float | bool) or value is None:
        return value
    text = value if isinstance(value, str) else str(value)
    cleaned = redact(text)
    if isinstance(value, str) or cleaned != text:
        return cleaned
    return value  # unchanged objects keep their type (for %d, %r, ...)


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record in place: message, arguments, exception and stack text."""
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    elif record.msg is not None and redact(str(record.msg)) != str(record.msg):
        record.msg = redact(str(record.msg))
    if isinstance(record.args, Mapping):
        record.args = {k: _redact_arg(v) for k, v in record.args.items()}
    elif isinstance(record.args, tuple):
        record.args = tuple(_redact_arg(a) for a in record.args)
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """The same redaction as a filter, for a handler set up outside ``setup_logging``."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_installed: list[Callable[..., logging.LogRecord]] = []


def install_redaction() -> None:
    """Redact every record this process creates (idempotent)."""
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    _installed.append(factory)
    logging.setLogRecordFactory(factory)


def setup_logging(level: str = "INFO") -> None:
    install_redaction()
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
