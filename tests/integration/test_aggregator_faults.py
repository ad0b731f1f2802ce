"""The aggregator under real faults, on servers of this module's own (never the session's):
its durable consumer deleted, NATS paused past every timeout, PostgreSQL stopped. Each time
it says so in ``/readyz`` and, once the fault is gone, compiles reports again without a
restart. And a crash between an announcement's append and its outbox row's DELETE, with the
process back only after JetStream's duplicate window: the revision is not announced again.
The stream's duplicate window is 1 s here, so that "much later" is soon."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from fieldcrew_aggregator.config import Settings
from fieldcrew_aggregator.main import create_app
from fieldcrew_aggregator.publisher import publish_pending
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.events import ServerReportCompiled, subject_for
from fieldcrew_shared.eventstore import EventStore, connect
from nats.aio.client import Client as NATS

from tests.conftest import AUDIENCE, ISSUER, app_client
from tests.e2e.conftest import ReportWatcher
from tests.integration.test_aggregator_projection import crew_flow_records, outbox, project_into
from tests.servers import OwnServers
from tests.unit.factories import issued, note, photo, report

# Past the aggregator's 1 s backend timeout and fetch timeout, and past the 3 unanswered
# pings (every 0.5 s here) after which its NATS client gives the connection up
PAUSE_SECONDS = 5.0
META = Metadata(actor="tests", actorrole="technician", correlationid="faults")
DUPLICATE_WINDOW = 1.0


@pytest.fixture(scope="module")
def own() -> Iterator[OwnServers]:
    with OwnServers(duplicate_window=DUPLICATE_WINDOW) as servers:
        yield servers


@pytest.fixture(scope="module")
async def admin(own: OwnServers) -> AsyncIterator[NATS]:
    nc = await connect(own.infra.nats_url, name="faults-admin", ping_interval=0.5)
    yield nc
    await nc.close()


@pytest.fixture(scope="module")
async def aggregator(own: OwnServers, keys: tuple[Path, Path]) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        nats_url=own.infra.nats_urls["aggregator"],
        database_url=own.infra.database_url,
        jwt_public_key_file=keys[1],
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        backend_timeout=1.0,
        nats_ping_interval=0.5,
        outbox_flush_interval=0.5,
    )
    async with app_client(create_app(settings)) as client:
        yield client


async def play(admin: NATS, wo: UUID) -> None:
    """A whole crew flow, each event appended as the service owning it would."""
    crew = ("lead", "m1")
    notes = [note(wo, who) for who in crew]
    flow: list[tuple[str, Any]] = [("dispatch", issued(wo, "lead", ("m1",)))]
    flow += [("team", n) for n in notes]
    flow += [("team", report(wo, "lead", tuple(n.note_id for n in notes)))]
    flow += [("photos", photo(wo, who, sha=uuid4().hex * 2)) for who in crew]
    for source, event in flow:
        await EventStore(admin, source=f"fieldcrew/{source}").append(event, META)


async def compiled(admin: NATS, wo: UUID) -> None:
    """Wait until revision 1 of ``wo``'s report is announced on the log."""
    async with ReportWatcher(EventStore(admin, source="tests"), str(wo)) as watcher:
        await watcher.revision(1)


async def ready(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    answer = await client.get("/readyz", timeout=10)
    return answer.status_code, answer.json()


async def until_ready(client: httpx.AsyncClient, want: int) -> dict[str, Any]:
    """Probe ``/readyz`` until it answers ``want`` (each probe is bounded by its checks)."""
    async with asyncio.timeout(60):
        while True:
            status, body = await ready(client)
            if status == want:
                return body


async def test_it_is_ready_and_compiles(admin: NATS, aggregator: httpx.AsyncClient) -> None:
    wo = uuid4()
    await play(admin, wo)
    await compiled(admin, wo)
    status, body = await ready(aggregator)
    assert status == 200, body
    assert body["checks"]["lag"]["position"] > 0


async def test_a_deleted_durable_consumer_is_made_again_and_reports_compile_again(
    admin: NATS, aggregator: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    js = admin.jetstream()
    await js.delete_consumer("FIELDCREW", "aggregator")
    wo = uuid4()
    await play(admin, wo)
    await compiled(admin, wo)
    info = await js.consumer_info("FIELDCREW", "aggregator")
    assert info.config.opt_start_seq is not None  # made again after what was committed
    failed = [
        r
        for r in caplog.records
        if r.getMessage() == "background task failed; restarting" and r.task == "projection"  # type: ignore[attr-defined]
    ]
    assert failed and failed[0].exc_info is not None
    assert (await until_ready(aggregator, 200))["status"] == "ready"


async def test_nats_paused_past_every_timeout_then_continued(
    own: OwnServers, admin: NATS, aggregator: httpx.AsyncClient
) -> None:
    own.pause("nats")
    try:
        body = await until_ready(aggregator, 503)
        await asyncio.sleep(PAUSE_SECONDS)  # the fault's length: held past every timeout
        status, later = await ready(aggregator)
    finally:
        own.resume("nats")
    problems = {p["check"] for p in body["problems"]} | {p["check"] for p in later["problems"]}
    assert status == 503 and "nats" in problems
    await until_ready(aggregator, 200)
    wo = uuid4()
    await play(admin, wo)
    await compiled(admin, wo)


async def test_postgres_stopped_then_started(
    own: OwnServers, admin: NATS, aggregator: httpx.AsyncClient
) -> None:
    await asyncio.to_thread(own.stop, "postgres")
    try:
        body = await until_ready(aggregator, 503)
        assert "postgres" in {p["check"] for p in body["problems"]}
        wo = uuid4()
        await play(admin, wo)  # the log takes events while the projection cannot
    finally:
        await asyncio.to_thread(own.start, "postgres")
    await compiled(admin, wo)
    await until_ready(aggregator, 200)


async def test_a_revision_in_the_log_is_not_announced_again_after_a_late_restart(
    own: OwnServers, admin: NATS
) -> None:
    pool = await asyncpg.create_pool(own.infra.database_url, min_size=1, max_size=2)
    aggregator = EventStore(admin, source="fieldcrew/aggregator")
    try:
        records = crew_flow_records()
        wo = records[0].event.work_order_id
        schema = await project_into(pool, [records])
        assert await publish_pending(aggregator, pool, schema) == 1
        # the process died after the append, before the DELETE: the row is back in the outbox
        await pool.execute(f"INSERT INTO {schema}.outbox VALUES ($1, 1)", wo)
        await window_passed(aggregator)  # JetStream no longer drops a repeat
        assert await publish_pending(aggregator, pool, schema) == 0  # the restarted process
        announced = (await aggregator.load(subject_for("aggregator", wo))).events
        assert [e.revision for e in announced] == [1]  # type: ignore[attr-defined]
        assert await outbox(pool, schema) == set()
    finally:
        await pool.close()


async def window_passed(store: EventStore) -> None:
    """Return once JetStream's duplicate window is over: a message sent again with the same
    ``Nats-Msg-Id`` is stored again, not dropped."""
    probe = ServerReportCompiled(work_order_id=uuid4(), revision=1)
    first = await store.append(probe, META, event_id=uuid4())
    async with asyncio.timeout(30):
        while True:
            again = await store.append(probe, META, event_id=UUID(first.envelope.id))
            if not again.duplicate:
                return
            await asyncio.sleep(DUPLICATE_WINDOW / 4)  # the window's own pace


@pytest.fixture(autouse=True)
def _supervision_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fieldcrew_shared")
