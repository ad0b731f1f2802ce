"""Traces: one work order played through the gateway by a client that traces the job as one
trace; the five services export over OTLP/HTTP to a receiver in this test. Every command's
spans, in the gateway and in the service, the aggregator's compile and the
ServerReportCompiled announcement are in that trace, carried over the log by the events'
CloudEvents ``traceparent``. The services run on servers of their own (an aggregator of the
session's stack would share the durable consumer and take half the events)."""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fieldcrew_cli.servers import EmbeddedServers, Infra, Ports
from fieldcrew_cli.stack import SERVICES, Stack, create_stream, service_env
from fieldcrew_shared.events import (
    LeaderReportSubmitted,
    MemberNoteAdded,
    PhotoUploaded,
    WorkOrderIssued,
)
from fieldcrew_shared.eventstore import EventStore, connect
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.e2e.conftest import Crew, ReportWatcher, free_port
from tests.e2e.test_backup_restore import SERVER_ENV
from tests.e2e.test_crew_flow import NOTE, REPORT, upload
from tests.images import jpeg


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str


@dataclass
class Receiver:
    """An OTLP/HTTP trace receiver: what the services' exporters POST to ``/v1/traces``."""

    spans: list[Span] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            attrs = {a.key: a.value.string_value for a in resource.resource.attributes}
            for scope in resource.scope_spans:
                with self.lock:
                    self.spans += [
                        Span(attrs["service.name"], s.name, s.trace_id.hex(), s.span_id.hex(),
                             s.parent_span_id.hex())
                        for s in scope.spans
                    ]  # fmt: skip

    def in_trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    received = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                received.take(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def traced_stack(
    receiver: tuple[Receiver, str], keys: tuple[Path, Path]
) -> Iterator[tuple[Stack, Infra]]:
    """Fresh servers and the five services, exporting spans to ``receiver``."""
    with (
        pytest.MonkeyPatch.context() as env,
        tempfile.TemporaryDirectory(prefix="fieldcrew-traced-") as folder,
    ):
        for name in SERVER_ENV:
            env.delenv(name, raising=False)
        with EmbeddedServers(Path(folder), ports=Ports.free()) as infra:
            create_stream(infra.nats_url)
            ports = {name: free_port() for name in SERVICES}
            stack = Stack(logs=Path(folder) / "service-logs", env={}, ports=ports)
            stack.env = {
                **service_env(infra, keys[1], ports),
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver[1],
                "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: spans reach the receiver quickly
            }
            stack.start()
            try:
                yield stack, infra
            finally:
                stack.stop()


@pytest.fixture
async def traced_log(traced_stack: tuple[Stack, Infra]) -> AsyncIterator[EventStore]:
    nc = await connect(traced_stack[1].nats_url, name="traces-reader")
    yield EventStore(nc, source="tests")
    await nc.drain()


def traceparent(trace_id: str) -> dict[str, str]:
    """A client's own span in ``trace_id``, sampled, as the W3C header."""
    return {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}


async def spans_named(
    receiver: Receiver, trace_id: str, wanted: set[tuple[str, str]]
) -> list[Span]:
    """The trace's spans once every (service, name) in ``wanted`` has arrived."""
    for _ in range(200):  # exporters send every 100 ms: at most ~20 s
        spans = receiver.in_trace(trace_id)
        if wanted <= {(s.service, s.name) for s in spans}:
            return spans
        await asyncio.sleep(0.1)
    have = {(s.service, s.name) for s in receiver.in_trace(trace_id)}
    raise AssertionError(f"missing spans: {wanted - have}")


async def spans_where(receiver: Receiver, name: str) -> list[Span]:
    """The spans called ``name``, once there is one."""
    for _ in range(200):
        with receiver.lock:
            found = [s for s in receiver.spans if s.name == name]
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no span {name}")


async def test_a_work_orders_commands_and_its_compile_are_one_trace(
    traced_stack: tuple[Stack, Infra],
    traced_log: EventStore,
    receiver: tuple[Receiver, str],
    crew: Crew,
) -> None:
    stack, _ = traced_stack
    job = secrets.token_hex(16)  # the client traces the whole job as one trace
    base = f"{stack.env['FIELDCREW_GATEWAY_URL']}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=30) as api:
        body = {"title": "Pump", "crew": {"leader": crew.leader, "members": crew.members}}
        r = await api.post(
            "/work-orders", json=body, headers={**crew.auth(crew.dispatcher), **traceparent(job)}
        )
        assert r.status_code == 201
        wo = r.json()["id"]
        async with ReportWatcher(traced_log, wo) as watcher:
            for i, who in enumerate(crew.everyone):
                headers = {**crew.auth(who), **traceparent(job)}
                r = await api.post(f"/work-orders/{wo}/notes", json=NOTE, headers=headers)
                assert r.status_code == 201
                api.headers.update(traceparent(job))
                assert (await upload(api, crew, wo, who, jpeg(seed=900 + i))).status_code == 201
            headers = {**crew.auth(crew.leader), **traceparent(job)}
            r = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=headers)
            assert r.status_code == 201
            await watcher.revision(1)
        api.headers.pop("traceparent")
        alone = await api.get(f"/work-orders/{wo}", headers=crew.auth(crew.leader))
        assert alone.status_code == 200

    announced = await traced_log.last(f"fieldcrew.aggregator.{wo}.ServerReportCompiled")
    assert announced is not None and announced.envelope.traceparent is not None
    assert announced.envelope.traceparent.split("-")[1] == job  # carried over the log
    history = await traced_log.load(f"fieldcrew.*.{wo}.>")
    assert all(r.envelope.traceparent.split("-")[1] == job for r in history.records)  # type: ignore[union-attr]

    wanted = {
        ("fieldcrew-gateway", "POST /api/v1/work-orders"),
        ("fieldcrew-dispatch", "POST /work-orders"),
        ("fieldcrew-dispatch", f"publish {WorkOrderIssued.type_name()}"),
        ("fieldcrew-gateway", "POST /api/v1/work-orders/{work_order_id}/notes"),
        ("fieldcrew-team", f"publish {MemberNoteAdded.type_name()}"),
        ("fieldcrew-photos", f"publish {PhotoUploaded.type_name()}"),
        ("fieldcrew-team", f"publish {LeaderReportSubmitted.type_name()}"),
        ("fieldcrew-aggregator", "compile server report"),
    }
    spans = await spans_named(receiver[0], job, wanted)
    by_id = {s.span_id: s for s in spans}
    (compile_,) = [s for s in spans if s.name == "compile server report"]
    # the compile is a child of the append that completed the report, in team
    assert by_id[compile_.parent_id].service in ("fieldcrew-team", "fieldcrew-photos")
    # a service's server span is the child of the gateway's
    team_server = [s for s in spans if s.service == "fieldcrew-team" and s.name.startswith("POST")]
    assert team_server and all(
        by_id[s.parent_id].service == "fieldcrew-gateway" for s in team_server
    )

    # a request the client does not trace is a trace of its own, gateway and service alike
    gets = await spans_where(receiver[0], "GET /api/v1/work-orders/{work_order_id}")
    (gateway_get,) = [s for s in gets if s.trace_id != job]
    assert gateway_get.trace_id != job
    served = {("fieldcrew-aggregator", "GET /work-orders/{work_order_id}")}
    await spans_named(receiver[0], gateway_get.trace_id, served)  # exported a moment later

    # every log line names its trace: the gateway logs each forwarded call
    lines = [json.loads(line) for line in (stack.logs / "gateway.log").read_text().splitlines()
             if line.startswith("{")]  # fmt: skip
    forwarded = [line for line in lines if line.get("msg") == "forwarded"]
    assert forwarded and all("trace_id" in line and "span_id" in line for line in lines)
    assert any(line["trace_id"] == job for line in forwarded)
