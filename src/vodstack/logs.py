"""Keys and secrets never reach a log: signed URLs carry them in their query strings
(playback tokens, part signatures, S3 signatures), and access logs print whole paths."""

from __future__ import annotations

import logging
import re

_SECRET_QUERY = re.compile(
    r"((?:token|signature|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)=)[^&\s\"]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return _BEARER.sub(rf"\1{REDACTED}", _SECRET_QUERY.sub(rf"\1{REDACTED}", text))


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_secrets_in_logs() -> None:
    """On the loggers that print requests; calling it again adds nothing."""
    for name in ("uvicorn.access", "uvicorn.error", "vodstack"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
