"""Tracing is off unless configured, and a missing otel extra turns it into no-ops with a
warning, never an error."""

from __future__ import annotations

import sys

import pytest

from vodstack import tracing


def test_off_by_default_every_call_is_a_no_op() -> None:
    with tracing.span(
        "job", parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    ) as span:
        span.set("video_id", "v")
        assert tracing.traceparent() is None


def test_no_endpoint_no_tracing() -> None:
    assert tracing.configure_tracing(None, "vodstack") is False
    assert tracing.configure_tracing("", "vodstack") is False


def test_without_the_otel_extra_tracing_stays_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As if the extra were not installed: importing any of it fails.
    for module in (
        "opentelemetry.sdk.trace",
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    ):
        monkeypatch.setitem(sys.modules, module, None)
    assert tracing.configure_tracing("http://collector:4318", "vodstack") is False
    assert "otel extra is not installed" in caplog.text
    assert tracing.traceparent() is None


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otel.example/v1/traces", "https://otel.example/v1/traces"),
    ],
)
def test_traces_go_to_the_collectors_traces_path(endpoint: str, url: str) -> None:
    assert tracing.traces_url(endpoint) == url
