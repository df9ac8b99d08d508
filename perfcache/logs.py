"""Log lines in the JSON shape Cloud Logging reads from a function's output.

Each line carries ``severity``, ``message``, the logger name, any ``extra`` fields, and
the labels bound with ``bind_labels`` (a sync run's id, a request's trace) under
``logging.googleapis.com/labels`` so Cloud Logging groups one run's lines. Lines go to
stderr: the CLI keeps stdout for its JSON summary, and Cloud Functions collects both.

    log = logs.get_logger(__name__)
    with logs.bind_labels(run_id="r-123"):
        log.info("query done", extra={"rows": 42})
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

_LABELS: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "perfcache_log_labels", default=None
)
_TRACE: contextvars.ContextVar[str] = contextvars.ContextVar(
    "perfcache_trace", default=""
)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}

_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


class CloudJsonFormatter(logging.Formatter):
    """Formats a record as one Cloud Logging structured JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        labels = _LABELS.get()
        if labels:
            entry["logging.googleapis.com/labels"] = labels
        trace = _TRACE.get()
        if trace:
            entry["logging.googleapis.com/trace"] = trace
        return json.dumps(entry, default=str, ensure_ascii=False, allow_nan=False)


def get_logger(name: str) -> logging.Logger:
    """The module's logger; the first call installs the JSON handler on our root."""
    _install()
    return logging.getLogger(name)


_installed = False


def _install() -> None:
    global _installed
    if _installed:
        return
    root = logging.getLogger("perfcache")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CloudJsonFormatter())
    root.addHandler(handler)
    root.setLevel(os.environ.get("PERFCACHE_LOG_LEVEL", "INFO").upper())
    root.propagate = False
    _installed = True


@contextlib.contextmanager
def bind_labels(**labels: str) -> Iterator[None]:
    """Adds labels to every line logged inside the block (in this context)."""
    token = _LABELS.set({**(_LABELS.get() or {}), **labels})
    try:
        yield
    finally:
        _LABELS.reset(token)


@contextlib.contextmanager
def bind_trace(trace: str) -> Iterator[None]:
    """Correlates the block's lines with a request trace (``projects/p/traces/id``)."""
    token = _TRACE.set(trace)
    try:
        yield
    finally:
        _TRACE.reset(token)
