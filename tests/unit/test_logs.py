"""Log lines: one JSON object each (or one text line), carrying the context they were logged
in, never a secret; and the request ids that the API accepts."""

from __future__ import annotations

import io
import json
import logging
import sys
from typing import Any

import pytest

from vodstack.api.middleware import request_id_from
from vodstack.logs import (
    REDACTED,
    ConsoleFormatter,
    JsonFormatter,
    RedactSecrets,
    configure_logging,
    log_context,
    resolve_format,
)


def record(
    message: str, *args: Any, name: str = "vodstack.test", exc: bool = False
) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom at https://s3/b/k?X-Amz-Signature=deadbeef")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args or None, exc_info)


def as_json(rec: logging.LogRecord) -> dict[str, Any]:
    RedactSecrets().filter(rec)
    line = JsonFormatter().format(rec)
    assert "\n" not in line  # one record, one line, even with a traceback
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def test_a_json_line_has_the_time_level_logger_and_message() -> None:
    line = as_json(record("claimed %d of %d", 1, 5))
    assert line["message"] == "claimed 1 of 5"
    assert (line["level"], line["logger"]) == ("info", "vodstack.test")
    assert line["time"].endswith("Z")
    assert "T" in line["time"]


def test_a_json_line_carries_the_context_it_was_logged_in() -> None:
    with log_context(video_id="v1", epoch=3, worker_id="host-1-abc/0"):
        with log_context(request_id="r1"):
            inner = as_json(record("inside"))
        outer = as_json(record("outside"))
    after = as_json(record("after"))
    ids = {k: inner[k] for k in ("video_id", "epoch", "worker_id", "request_id")}
    assert ids == {"video_id": "v1", "epoch": 3, "worker_id": "host-1-abc/0", "request_id": "r1"}
    assert "request_id" not in outer
    assert outer["worker_id"] == "host-1-abc/0"
    assert not {"video_id", "epoch", "worker_id", "request_id"} & after.keys()


def test_an_access_line_is_split_into_fields_and_loses_its_secrets() -> None:
    path = "/v1/videos/x/hls/e1/master.m3u8?token=eyJ2Ijoi.c2ln&x=1"
    rec = record(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5000",
        "GET",
        path,
        "1.1",
        200,
        name="uvicorn.access",
    )
    with log_context(request_id="abc"):
        line = as_json(rec)
    assert "eyJ2Ijoi" not in json.dumps(line)
    assert line["path"] == f"/v1/videos/x/hls/e1/master.m3u8?token={REDACTED}&x=1"
    assert (line["method"], line["status"], line["request_id"]) == ("GET", 200, "abc")


@pytest.mark.parametrize(
    "secret",
    [
        "Authorization: Bearer vsk_0123456789abcdef_secretpart",
        "key vsk_0123456789abcdef_secretpart given",
        "postgresql://vod:secretpart@db:5432/vodstack is not usable",
        "/v1/storage/parts/u/1?max_size=5&expires=9&signature=secretpart",
    ],
)
def test_keys_and_passwords_never_reach_a_line(secret: str) -> None:
    line = as_json(record(secret))
    assert "secretpart" not in line["message"]
    assert REDACTED in line["message"]


def test_an_exception_is_one_field_of_the_line_and_is_redacted() -> None:
    line = as_json(record("failed", exc=True))
    assert "Traceback" in line["exception"]
    assert "RuntimeError: boom" in line["exception"]
    assert "deadbeef" not in line["exception"]


def test_the_console_line_puts_the_context_after_the_message() -> None:
    formatter = ConsoleFormatter()
    with log_context(video_id="v1", epoch=2):
        text = formatter.format(record("encoding"))
    assert text.endswith("vodstack.test: encoding  video_id=v1 epoch=2")
    failed = formatter.format(record("failed", exc=True))
    assert "RuntimeError: boom" in failed
    assert "deadbeef" not in failed


def test_auto_means_text_at_a_terminal_and_json_elsewhere() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert resolve_format("auto", Terminal()) == "console"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("console", io.StringIO()) == "console"


def test_configuring_twice_leaves_one_handler() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    try:
        configure_logging("json", "warning", io.StringIO())
        configure_logging("json", "info", out)
        ours = [h for h in root.handlers if h.get_name() == "vodstack"]
        assert len(ours) == 1
        logging.getLogger("vodstack.test").info("token=abc")
        assert json.loads(out.getvalue())["message"] == f"token={REDACTED}"
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("abc-123", True),
        ("0af7651916cd43dd8448eb211c80319c", True),
        ("Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8", True),
        ("", False),
        ("has space", False),
        ("line\nbreak", False),
        ('quote"s', False),
        ("é", False),
        ("x" * 129, False),
        (None, False),
    ],
)
def test_a_request_id_is_kept_only_when_sane(given: str | None, kept: bool) -> None:
    chosen = request_id_from(given)
    assert (chosen == given) is kept
    if not kept:
        assert len(chosen) == 32
        assert int(chosen, 16) >= 0


def test_uvicorn_writes_no_access_line_of_its_own_once_logging_is_configured() -> None:
    # uvicorn writes its access line only when "uvicorn.access" has a handler; each HTTP
    # process configures logging after uvicorn did, so configuring must leave it none.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    access = logging.getLogger("uvicorn.access")
    access.propagate = True  # as a process would find it
    try:
        configure_logging("json", "info", io.StringIO())
        assert not access.hasHandlers()
        assert logging.getLogger("uvicorn.error").hasHandlers()  # its errors still show
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        access.propagate = True
