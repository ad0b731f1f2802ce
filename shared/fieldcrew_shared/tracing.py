"""OpenTelemetry traces across the gateway, the services, the log and the aggregator
(docs/adr/0056-traces.md).

- Every HTTP request is a server span (FastAPI's own telemetry; :class:`TracingMiddleware`
  when nothing is recorded), child of the caller's W3C ``traceparent`` when it sends one:
  the gateway passes its own on to the service it calls.
- Every append is a producer span, and the event carries its context as the CloudEvents
  distributed-tracing extension (``traceparent``, ``tracestate`` envelope attributes), so the
  aggregator's spans (applying the event, compiling the report, announcing it) join the trace
  of the request that caused them.
- Spans are exported over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the standard
  ``OTEL_*`` variables configure it). Without it nothing is recorded or exported, and no SDK
  span is made, but ids are still made and passed on (one span id per request, in the
  caller's trace or a new one), so that every log line and every event names its trace.
- ``OTEL_SDK_DISABLED=true`` turns all of it off.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Receive, Scope, Send

TRACER = "fieldcrew"
_PROPAGATOR = TraceContextTextMapPropagator()
_RECORDING = False  # spans recorded and exported (configure() with an OTLP endpoint)
_OFF = False  # OTEL_SDK_DISABLED


def configure(service: str) -> None:
    """Install the process's tracer provider (once, at start): exporting over OTLP when
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or its traces variant) is set, else making ids only."""
    global _RECORDING, _OFF
    env = os.environ
    _OFF = env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    exporting = not _OFF and bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    resource = Resource.create(
        {"service.name": env.get("OTEL_SERVICE_NAME", f"fieldcrew-{service}")}
    )
    if exporting:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    _RECORDING = exporting


def shutdown() -> None:
    """Send what is still buffered (at the end of the process)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER)


def carrier() -> tuple[str | None, str | None]:
    """The current span's ``(traceparent, tracestate)`` for an event's envelope, or Nones."""
    out: dict[str, str] = {}
    _PROPAGATOR.inject(out)
    return out.get("traceparent"), out.get("tracestate")


def inject(headers: dict[str, str]) -> None:
    """Add the current span's ``traceparent`` (and ``tracestate``) to outgoing ``headers``."""
    _PROPAGATOR.inject(headers)


def parent_of(traceparent: str | None, tracestate: str | None = None) -> otel_context.Context:
    """The context an event's (or a request's) ``traceparent`` names, to start a child in."""
    values = {"traceparent": traceparent} if traceparent else {}
    if traceparent and tracestate:
        values["tracestate"] = tracestate
    return _PROPAGATOR.extract(values, context=otel_context.Context())


def span_context_of(traceparent: str | None) -> SpanContext | None:
    """The span an event's ``traceparent`` names, for a link; None when it has none."""
    found = trace.get_current_span(parent_of(traceparent)).get_span_context()
    return found if found.is_valid else None


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: otel_context.Context | None = None,
    links: list[Link] | None = None,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[Span]:
    """A span, current for the block (child of ``parent`` when given, else of the current
    span); an exception marks it failed. When nothing is recorded, a span of its own is made
    only with a ``parent`` (to carry that trace on); else the current one goes on (an SDK span
    cost ~8 us even unsampled, as much as sealing the event it would wrap; ADR 0056)."""
    if not _RECORDING:
        if parent is None or _OFF:
            yield trace.get_current_span()
            return
        with _ids_only(trace.get_current_span(parent).get_span_context()) as current:
            yield current
        return
    with tracer().start_as_current_span(
        name, context=parent, kind=kind, links=links, attributes=attributes
    ) as current:
        yield current


def ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` of the current span in hex, for log lines; None outside one."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


@contextmanager
def _ids_only(parent: SpanContext) -> Iterator[Span]:
    """A span that records nothing: a new span id in the parent's trace (or a new trace),
    current for the block, so that log lines and events name it."""
    trace_id = parent.trace_id if parent.is_valid else random.getrandbits(128)
    current = NonRecordingSpan(
        SpanContext(
            trace_id,
            random.getrandbits(64),
            is_remote=False,
            trace_flags=parent.trace_flags,
            trace_state=parent.trace_state if parent.is_valid else None,  # W3C: passed on
        )
    )
    token = otel_context.attach(trace.set_span_in_context(current))
    try:
        yield current
    finally:
        otel_context.detach(token)


class TracingMiddleware:
    """ASGI middleware: when spans are recorded, FastAPI's own telemetry makes each request's
    server span (``METHOD /route/{template}``, child of the caller's ``traceparent``) and this
    does nothing; when they are not, this gives each request a span id of its own in the
    caller's trace (or a new one), current while it is served, for log lines and events."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _RECORDING or _OFF:
            await self.app(scope, receive, send)
            return
        remote = INVALID_SPAN_CONTEXT
        for name, value in scope["headers"]:
            if name == b"traceparent":
                extracted = _PROPAGATOR.extract({"traceparent": value.decode("latin-1")})
                remote = trace.get_current_span(extracted).get_span_context()
                break
        with _ids_only(remote):
            await self.app(scope, receive, send)


# What FastAPI's own telemetry records, when spans are recorded: the request's server span
# only (its per-operation spans tripled the spans of a request; metrics are Prometheus').
FASTAPI_TELEMETRY = {"tracing": True, "operation_spans": False, "metrics": False, "logs": False}
