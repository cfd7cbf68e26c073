"""Logging: one line per record, as JSON for machines or as text for people, each carrying
the context it was logged in (a request's id; a job's video, epoch and worker).

Keys and secrets never reach a log: signed URLs carry them in their query strings
(playback tokens, part signatures, S3 signatures), and access logs print whole paths."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any, TextIO

_SECRET_QUERY = re.compile(
    r"((?:token|signature|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)=)[^&\s\"]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
_API_KEY = re.compile(r"\bvsk_[0-9a-f]{16}_[A-Za-z0-9_-]+")
_URL_PASSWORD = re.compile(r"(\w+://[^/\s:@]+:)[^@\s/]+@")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    text = _SECRET_QUERY.sub(rf"\1{REDACTED}", text)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    text = _API_KEY.sub(f"vsk_{REDACTED}", text)
    return _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)


class RedactSecrets(logging.Filter):
    """On the handler, so that it sees every record, whichever logger made it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


# --- context --------------------------------------------------------------------------

_context: ContextVar[Mapping[str, str | int] | None] = ContextVar(
    "vodstack_log_context", default=None
)


@contextlib.contextmanager
def log_context(**fields: str | int) -> Iterator[None]:
    """Every record logged inside the block, and inside the tasks it starts, carries
    ``fields``: asyncio copies the context into each new task."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def bind(**fields: str | int) -> Token[Mapping[str, str | int] | None]:
    """Add ``fields`` to the context until ``unbind``, or the end of the current task."""
    return _context.set({**context_fields(), **fields})


def unbind(token: Token[Mapping[str, str | int] | None]) -> None:
    _context.reset(token)


def context_fields() -> Mapping[str, str | int]:
    return _context.get() or {}


# --- formats --------------------------------------------------------------------------

# Access records, uvicorn's and vodstack's own: '%s - "%s %s HTTP/%s" %d' with these
# arguments.
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")
_ACCESS_LOGGERS = frozenset({"uvicorn.access", "vodstack.access"})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context's fields, the
    fields of an access log line, and the exception, if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **context_fields(),
        }
        args = record.args
        if record.name in _ACCESS_LOGGERS and isinstance(args, tuple) and len(args) == 5:
            line.update(zip(_ACCESS_FIELDS, args, strict=True))
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(line, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """The classic text line, the context's fields after the message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (stdlib's name)
        fields = context_fields()
        text = super().formatMessage(record)
        if not fields:
            return text
        return text + "  " + " ".join(f"{k}={v}" for k, v in fields.items())

    def formatException(self, ei: Any) -> str:  # noqa: N802 (stdlib's name)
        return redact(super().formatException(ei))


def resolve_format(log_format: str, stream: TextIO) -> str:
    """``auto``: text for a person at a terminal, JSON for everything else."""
    if log_format != "auto":
        return log_format
    return "console" if stream.isatty() else "json"


def configure_logging(log_format: str, level: str, stream: TextIO | None = None) -> None:
    """Send every record, uvicorn's too, through one handler in the chosen format.
    Calling it again replaces that handler."""
    stream = stream or sys.stdout
    handler = logging.StreamHandler(stream)
    handler.set_name("vodstack")
    json_lines = resolve_format(log_format, stream) == "json"
    handler.setFormatter(JsonFormatter() if json_lines else ConsoleFormatter())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "vodstack"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        # uvicorn's own handlers would print a second, unformatted copy.
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    silence_uvicorn_access()
    logging.captureWarnings(True)


def silence_uvicorn_access() -> None:
    """The access log is vodstack's own ("vodstack.access", sampled as configured), so
    uvicorn's is off in every process. uvicorn decides per connection whether to write its
    access line by whether "uvicorn.access" has a handler, its ancestors' included: with no
    handler of its own and no propagation it has none, and uvicorn skips the line (and its
    cost). This must hold after the app is built too: each HTTP process of ``--processes N``
    configures logging again when it builds its app, after uvicorn set up that process."""
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
