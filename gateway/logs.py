"""Structured logs: one JSON object per line, each carrying the request id it belongs to.

``REQUEST_ID`` is set by the proxy for the duration of each request; every record logged while
it is set (by the gateway, the adapters or aiohttp) gets a ``request_id`` field. Fields passed
with ``extra=`` become keys of the JSON object. Messages never hold secrets: ``Secret`` renders
as ``***`` and the gateway never formats a token into a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import sys
import time
from typing import Any, TextIO

import orjson

from gateway.transport import tracing

__all__ = ["REQUEST_ID", "STANDARD_FIELDS", "AccessLog", "JsonFormatter", "access_log", "configure"]

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

#: The attributes every ``LogRecord`` has: the rest came as ``extra=``.
STANDARD_FIELDS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


class _RequestIdFilter(logging.Filter):
    """Each record gets the request id, and inside a span its ``trace_id`` and ``span_id``
    (gateway.transport.tracing), so that a log line leads to its trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        if not hasattr(record, "trace_id"):
            ids = tracing.current_ids()
            if ids is not None:
                record.trace_id, record.span_id = ids
        return True


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id", ...extra}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data |= {k: v for k, v in record.__dict__.items() if k not in STANDARD_FIELDS}
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class AccessLog:
    """One JSON line per request, written straight to the log stream, in batches.

    It has the shape of the other lines (``time``, ``level``, ``logger``, ``message``,
    ``request_id``) but skips the ``logging`` machinery and writes lines in batches (at most
    ``BATCH`` lines or ``DELAY`` seconds old): one system call per request cost more than the
    proxy's own work. Off until ``configure`` is called (and when the level is above INFO).
    ``flush()`` writes what is pending (the proxy calls it when it stops).
    """

    BATCH = 128
    DELAY = 0.25

    def __init__(self) -> None:
        self.stream: TextIO | None = None
        self._pending: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None
        self._second = 0
        self._stamp = ""
        #: A short line for people (``12:03:04 GET /v1/webhooks 200 3.1 ms``), not JSON.
        self.human = False

    def write(self, fields: dict[str, Any]) -> None:
        """Log one request's ``fields`` (the dict is taken over: ``time`` and ``request_id``
        are added to it)."""
        if self.stream is None:
            return
        now = time.time()
        second = int(now)
        if second != self._second:  # formatting the date once a second is enough
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        if self.human:
            clock = self._stamp[11:] if self._stamp else ""
            where = f" {fields['account']}" if fields.get("account") else ""
            line = (f"{clock} {fields.get('method', '')} {fields.get('route', '')} "
                    f"{fields.get('status', '')} {fields.get('duration_ms', '')} ms"
                    f"{where}")  # fmt: skip
            self._pending.append(line.encode())
        else:
            fields["time"] = f"{self._stamp}.{int(now * 1000) % 1000:03d}Z"
            fields["request_id"] = REQUEST_ID.get()
            ids = tracing.current_ids()
            if ids is not None:
                fields["trace_id"], fields["span_id"] = ids
            self._pending.append(orjson.dumps(_ACCESS | fields, default=str))
        if len(self._pending) >= self.BATCH:
            self.flush()
        elif self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(self.DELAY, self.flush)
            except RuntimeError:  # no loop: write now
                self.flush()

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        lines, self._pending = self._pending, []
        if not lines or self.stream is None:
            return
        # A closed or broken stream must not fail a request.
        data = b"\n".join(lines) + b"\n"
        with contextlib.suppress(OSError, ValueError):
            buffer = getattr(self.stream, "buffer", None)  # a text stream's bytes underneath
            if buffer is not None:
                self.stream.flush()
                buffer.write(data)
                buffer.flush()
            else:
                self.stream.write(data.decode())
                self.stream.flush()


_ACCESS = {"time": "", "level": "info", "logger": "gateway.access", "message": "request"}

access_log = AccessLog()


def configure(level: str = "INFO", stream: TextIO = sys.stderr, fmt: str = "json") -> None:
    """Send every log record to ``stream``: JSON lines with request ids (``fmt`` ``json``), or
    short lines for a person at a terminal (``text``; ``auto``: text when ``stream`` is a
    terminal, else JSON)."""
    access_log.flush()
    access_log.stream = stream if logging.getLevelName(level.upper()) <= logging.INFO else None
    human = fmt == "text" or (fmt == "auto" and stream.isatty())
    access_log.human = human
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
        if human else JsonFormatter()
    )  # fmt: skip
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # we log requests ourselves
