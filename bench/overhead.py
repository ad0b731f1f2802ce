"""``python -m bench.overhead``: what metrics and traces add to one request and one event,
in-process, without the network (the crew-flow figures move by more than this between two
runs on a shared machine, so the cost is measured on its own; bench/README.md).

- **request**: a FastAPI route answering ``{}`` called through ASGI, bare, with the metrics
  middleware, and with metrics and tracing (ids only, and recording spans to a processor
  that drops them: the cost of tracing with an exporter, without the exporter's I/O).
- **event**: ``seal`` + ``encode`` of one envelope, bare and inside a producer span with the
  trace context put into the envelope.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from uuid import uuid4

from fastapi import FastAPI
from fieldcrew_shared import tracing
from fieldcrew_shared.envelope import Metadata, encode, seal
from fieldcrew_shared.events import MemberNoteAdded
from fieldcrew_shared.metrics import MetricsMiddleware
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Sampler
from opentelemetry.trace import SpanKind

ROUNDS, CALLS = 25, 1000


def app(metrics: bool, traced: bool) -> FastAPI:
    off = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    made = FastAPI(telemetry=tracing.FASTAPI_TELEMETRY if traced else off)  # type: ignore[arg-type]

    @made.get("/work-orders/{work_order_id}/notes")
    async def notes(work_order_id: str) -> dict[str, str]:
        return {}

    if metrics:
        made.add_middleware(MetricsMiddleware)
    if traced:
        made.add_middleware(tracing.TracingMiddleware)
    return made


async def one_request(target: FastAPI) -> None:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": f"/work-orders/{uuid4()}/notes", "raw_path": b"",
        "query_string": b"", "root_path": "", "headers": [(b"host", b"x")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "app": target,
    }  # fmt: skip

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: object) -> None:
        pass

    await target(scope, receive, send)


def provider(sampler: Sampler) -> None:
    made = TracerProvider(sampler=sampler)
    made.add_span_processor(SpanProcessor())  # a recorded span goes nowhere
    trace.set_tracer_provider(made)


async def per_call(calls: dict[str, Callable[[], Awaitable[None]]]) -> dict[str, float]:
    """Median over rounds of CPU microseconds per call of each case, the cases taking turns
    in every round (a shared machine's load drifts)."""
    for call in calls.values():
        for _ in range(500):
            await call()
    rounds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(ROUNDS):
        for name, call in calls.items():
            started = time.process_time()  # this process's CPU: others' load moves it less
            for _ in range(CALLS):
                await call()
            rounds[name].append((time.process_time() - started) / CALLS * 1e6)
    return {name: statistics.median(values) for name, values in rounds.items()}


async def event(traced: bool) -> None:
    note = MemberNoteAdded(
        work_order_id=uuid4(), note_id=uuid4(), author="max", findings="f", actions="a"
    )
    meta = Metadata(actor="max", actorrole="technician", correlationid="c")
    if traced:
        with tracing.span("publish", kind=SpanKind.PRODUCER):
            encode(seal(note, meta, source="fieldcrew/team"))
    else:
        encode(seal(note, meta, source="fieldcrew/team"))


async def measure(label: str) -> list[tuple[str, float, float]]:
    """One tracing mode (a process sets its tracer provider once)."""
    if label == "recording":  # as configure() does with an OTLP endpoint, minus the exporter
        provider(ALWAYS_ON)
        tracing._RECORDING = True
    apps = {
        "request, bare": app(False, False),
        "request + metrics": app(True, False),
        f"request + metrics + tracing ({label})": app(True, True),
    }
    calls = {name: (lambda made=made: one_request(made)) for name, made in apps.items()}
    us = await per_call(calls)  # type: ignore[arg-type]
    bare = us["request, bare"]
    rows = [(name, v, v - bare) for name, v in us.items()]
    events = await per_call({"plain": lambda: event(False), "span": lambda: event(True)})
    name = f"event seal+encode in a producer span ({label})"
    rows.append((name, events["span"], events["span"] - events["plain"]))
    return rows


def main() -> None:
    if len(sys.argv) > 1:
        print(json.dumps(asyncio.run(measure(sys.argv[1]))))
        return
    print("| case | us per call | added |")
    print("|---|---|---|")
    for label in ("ids only", "recording"):
        out = subprocess.run(
            [sys.executable, "-m", "bench.overhead", label], capture_output=True, check=True
        ).stdout
        for name, us, added in json.loads(out):
            if label == "recording" and name.startswith("request") and "tracing" not in name:
                continue  # measured in the first process already
            print(f"| {name} | {us:.1f} | {added:+.1f} |")


if __name__ == "__main__":
    main()
