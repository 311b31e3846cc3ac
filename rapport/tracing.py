"""Traces (README: "Metrics and traces"): the W3C `traceparent` header, read on every request
for the logs, and OpenTelemetry spans, one per GraphQL operation, when RAPPORT_OTEL is on.

The OpenTelemetry SDK is imported only when tracing is on. Its exporter follows the standard
variables: OTEL_TRACES_EXPORTER (a setting: `otlp`, the default, OTLP over HTTP to
OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; or `console`), and
OTEL_SERVICE_NAME (default `rapport`) with OTEL_RESOURCE_ATTRIBUTES for the resource. Rapport
keeps a tracer provider of its own (not OpenTelemetry's global one), shut down, and so
flushed, with the app.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

    from rapport.settings import Settings

# version "-" trace-id "-" parent-id "-" trace-flags, lowercase hex (W3C Trace Context, level 1)
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_NO_TRACE = "0" * 32
_NO_PARENT = "0" * 16


@dataclass(frozen=True, slots=True)
class TraceParent:
    trace_id: str  # 32 lowercase hex digits, not all zero
    parent_id: str  # 16 lowercase hex digits, not all zero: the caller's span
    flags: int  # bit 0: sampled

    @property
    def sampled(self) -> bool:
        return bool(self.flags & 1)


def parse_traceparent(value: str | None) -> TraceParent | None:
    """A valid `traceparent` header, else None (the header is then ignored, as the spec says).
    Version 00 must be exactly its 55 characters; a later version may carry more after a
    dash, which is skipped; version ff is invalid."""
    if not value:
        return None
    value = value.strip(" \t")
    match = _TRACEPARENT.match(value)
    if match is None:
        return None
    version, trace_id, parent_id, flags = match.groups()
    if version == "ff" or trace_id == _NO_TRACE or parent_id == _NO_PARENT:
        return None
    rest = value[match.end() :]
    if version == "00" and rest:
        return None
    if rest and not rest.startswith("-"):
        return None
    return TraceParent(trace_id, parent_id, int(flags, 16))


@dataclass
class Tracing:
    """The tracer of GraphQL operations and the provider behind it (shut down at exit)."""

    provider: TracerProvider
    tracer: Tracer

    def shutdown(self) -> None:
        self.provider.shutdown()

    def start_operation(self, parent: TraceParent | None, tracestate: str | None) -> Span:
        """A server span for one operation, a child of the caller's span when one came."""
        from opentelemetry import trace
        from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceState

        context: Any = None
        if parent is not None:
            state = TraceState.from_header([tracestate]) if tracestate else None
            remote = SpanContext(
                trace_id=int(parent.trace_id, 16),
                span_id=int(parent.parent_id, 16),
                is_remote=True,
                trace_flags=trace.TraceFlags(parent.flags),
                trace_state=state,
            )
            context = trace.set_span_in_context(NonRecordingSpan(remote))
        return self.tracer.start_span("graphql.operation", context=context, kind=SpanKind.SERVER)


def create_tracing(settings: Settings, exporter: SpanExporter | None = None) -> Tracing | None:
    """None unless RAPPORT_OTEL is on. `exporter`: tests pass an in-memory one (spans are then
    exported at once); otherwise the OTEL_* variables choose, and spans leave in batches."""
    if not settings.otel:
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or "rapport"})
    provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(_exporter(settings)))
    return Tracing(provider, provider.get_tracer("rapport"))


def _exporter(settings: Settings) -> SpanExporter:
    if settings.otel_traces_exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    # Reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _TIMEOUT, ... itself.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
