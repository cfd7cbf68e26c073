"""Optional tracing with OpenTelemetry: spans for an upload's creation and completion, and
for a job, its download, encode and publish. The worker's job span is a child of the span
that completed the upload, in another process: the upload stores its W3C ``traceparent``
with the job, and the worker's claim reads it back.

Off unless the ``otel`` extra is installed and an OTLP endpoint is configured; then every
function here is a no-op. The rest of vodstack never imports OpenTelemetry.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Protocol

log = logging.getLogger(__name__)

Attribute = str | int | float | bool


class Span(Protocol):
    def set(self, key: str, value: Attribute) -> None: ...


class _NoSpan:
    def set(self, key: str, value: Attribute) -> None:
        return None


class _OtelSpan:
    def __init__(self, span: Any) -> None:
        self._span = span

    def set(self, key: str, value: Attribute) -> None:
        self._span.set_attribute(key, value)


_NO_SPAN = _NoSpan()
# The opentelemetry Tracer once tracing is on; None: off.
_tracer: Any = None


def configure_tracing(endpoint: str | None, service: str) -> bool:
    """Export spans over OTLP/HTTP to ``endpoint`` (a collector's base URL, such as
    http://collector:4318). Whether tracing is on."""
    if not endpoint:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "an OTLP endpoint is set, but the otel extra is not installed "
            "(pip install 'vodstack[otel]'): no traces are sent"
        )
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(endpoint))))
    # Global, so that FastAPI's own request spans go there too, as parents of ours.
    trace.set_tracer_provider(provider)
    use_provider(provider)
    log.info("sending traces to %s as %s", traces_url(endpoint), service)
    return True


def use_provider(provider: Any) -> None:
    """Make spans with this TracerProvider (None: stop). ``configure_tracing`` calls it;
    tests pass a provider with an in-memory exporter."""
    global _tracer
    _tracer = None if provider is None else provider.get_tracer("vodstack")


def traces_url(endpoint: str) -> str:
    """OTLP/HTTP takes traces at /v1/traces under the collector's base URL."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


@contextlib.contextmanager
def span(name: str, parent: str | None = None, **attributes: Attribute) -> Iterator[Span]:
    """A span around the block, child of the current one, or of ``parent`` (a W3C
    traceparent stored by another process) when given."""
    if _tracer is None:
        yield _NO_SPAN
        return
    context = _extract(parent) if parent else None
    with _tracer.start_as_current_span(name, context=context, attributes=attributes) as current:
        yield _OtelSpan(current)


def traceparent() -> str | None:
    """The current span as a W3C traceparent header value, for another process to continue
    the trace from; None when tracing is off or no span is recording."""
    if _tracer is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def _extract(parent: str) -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({"traceparent": parent})
