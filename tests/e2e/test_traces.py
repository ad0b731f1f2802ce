"""Traces: one work order played through the gateway by a client that traces the job as one
trace; the session's five services export over OTLP/HTTP to a receiver in this test session
(tests/e2e/conftest.py). Every command's spans, in the gateway and in the service, the
aggregator's compile and the ServerReportCompiled announcement are in that trace, carried over
the log by the events' CloudEvents ``traceparent``."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import httpx
from fieldcrew_cli.stack import Stack
from fieldcrew_shared.events import (
    LeaderReportSubmitted,
    MemberNoteAdded,
    PhotoUploaded,
    WorkOrderIssued,
)
from fieldcrew_shared.eventstore import EventStore

from tests.e2e.conftest import Crew, ReportWatcher
from tests.e2e.test_crew_flow import NOTE, REPORT, upload
from tests.images import jpeg
from tests.otlp import Receiver, Span


def traceparent(trace_id: str) -> dict[str, str]:
    """A client's own span in ``trace_id``, sampled, as the W3C header."""
    return {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}


async def spans_named(
    receiver: Receiver, trace_id: str, wanted: set[tuple[str, str]]
) -> list[Span]:
    """The trace's spans once every (service, name) in ``wanted`` has arrived."""
    for _ in range(300):  # exporters send every 200 ms: at most ~30 s
        spans = receiver.in_trace(trace_id)
        if wanted <= {(s.service, s.name) for s in spans}:
            return spans
        await asyncio.sleep(0.1)
    have = {(s.service, s.name) for s in receiver.in_trace(trace_id)}
    raise AssertionError(f"missing spans: {wanted - have}")


async def with_parents(receiver: Receiver, trace_id: str) -> list[Span]:
    """The trace's spans once the parent of every span but the gateway's (whose parent is
    the client's) has arrived too: each exporter sends on its own schedule, so a child can
    come before its parent."""
    for _ in range(300):  # at most ~30 s
        spans = receiver.in_trace(trace_id)
        ids = {s.span_id for s in spans}
        if all(s.parent_id in ids for s in spans if s.service != "fieldcrew-gateway"):
            return spans
        await asyncio.sleep(0.1)
    raise AssertionError("a span's parent never arrived")


def gateway_lines(stack: Stack) -> list[dict[str, Any]]:
    text = (stack.logs / "gateway.log").read_text()
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def play(api: httpx.AsyncClient, crew: Crew, log: EventStore, job: str) -> str:
    """The whole job, every call in trace ``job``: issue, notes, photos, the report, and the
    server report compiled. Its work order's id."""
    body = {"title": "Pump", "crew": {"leader": crew.leader, "members": crew.members}}
    headers = {**crew.auth(crew.dispatcher), **traceparent(job)}
    r = await api.post("/work-orders", json=body, headers=headers)
    assert r.status_code == 201
    wo = str(r.json()["id"])
    async with ReportWatcher(log, wo) as watcher:
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
    return wo


async def test_a_work_orders_commands_and_its_compile_are_one_trace(
    api: httpx.AsyncClient, crew: Crew, log: EventStore, stack: Stack, spans: Receiver
) -> None:
    job = secrets.token_hex(16)  # the client traces the whole job as one trace
    wo = await play(api, crew, log, job)
    alone = await api.get(f"/work-orders/{wo}", headers=crew.auth(crew.leader))
    assert alone.status_code == 200

    announced = await log.last(f"fieldcrew.aggregator.{wo}.ServerReportCompiled")
    assert announced is not None and announced.envelope.traceparent is not None
    assert announced.envelope.traceparent.split("-")[1] == job  # carried over the log
    history = await log.load(f"fieldcrew.*.{wo}.>")
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
        ("fieldcrew-photos", "make photo renditions"),  # the worker after the upload
    }
    await spans_named(spans, job, wanted)
    found = await with_parents(spans, job)
    by_id = {s.span_id: s for s in found}
    (compile_,) = [s for s in found if s.name == "compile server report"]
    # the compile is a child of the append that completed the report, in team
    assert by_id[compile_.parent_id].service in ("fieldcrew-team", "fieldcrew-photos")
    # a service's server span is the child of the gateway's
    team_server = [s for s in found if s.service == "fieldcrew-team" and s.name.startswith("POST")]
    assert team_server and all(
        by_id[s.parent_id].service == "fieldcrew-gateway" for s in team_server
    )

    # every log line names its trace: the gateway logs each forwarded call
    lines = gateway_lines(stack)
    forwarded = [line for line in lines if line.get("msg") == "forwarded"]
    assert forwarded and all("trace_id" in line and "span_id" in line for line in lines)
    assert any(line["trace_id"] == job for line in forwarded)

    # a request the client does not trace is a trace of its own, gateway and service alike
    (untraced,) = [
        line["trace_id"]
        for line in forwarded
        if line["method"] == "GET" and line["upstream"].endswith(f"/work-orders/{wo}")
    ]
    assert untraced != job
    served = {
        ("fieldcrew-gateway", "GET /api/v1/work-orders/{work_order_id}"),
        ("fieldcrew-aggregator", "GET /work-orders/{work_order_id}"),
    }
    await spans_named(spans, untraced, served)
