"""The checker itself finds what it must: a lost acknowledged command, an event twice in the
log, a projection that differs from its rebuild (each made on purpose on a system of its own
after a clean run)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import asyncpg
import pytest
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.events import MemberNoteAdded
from fieldcrew_shared.eventstore import EventStore, connect

from tests.faults.checker import check
from tests.faults.driver import Driver, Plan
from tests.faults.ledger import Ledger
from tests.faults.system import System

META = Metadata(actor="chaos", actorrole="admin", correlationid="checker-test")


@pytest.mark.timeout(240)
async def test_the_checker_finds_a_lost_command_a_duplicate_and_a_wrong_projection() -> None:
    system = await asyncio.to_thread(System().start)
    try:
        ledger = Ledger()
        driver = Driver(system, ledger, Plan(crews=2), seed=7, tag="checker")
        await driver.run(lambda: driver.started >= 4)
        clean = await check(system.nats_admin_url, system.database_url, ledger, 60.0)
        assert clean.ok and clean.complete == 4 and clean.reports_right == 4, clean.problems

        order = ledger.orders[0]
        note_id, author = next(iter(order.notes.items()))
        never_written = dataclasses.replace(ledger.acks[-1], kind="note", entity=str(uuid.uuid4()))
        ledger.ack(never_written)
        nc = await connect(system.nats_admin_url, name="checker-test")
        twice = MemberNoteAdded(work_order_id=uuid.UUID(order.id), note_id=uuid.UUID(note_id),
                                author=author)  # fmt: skip
        await EventStore(nc, source="fieldcrew/team").append(twice, META)  # another event id
        await nc.drain()
        conn = await asyncpg.connect(system.database_url)
        await conn.execute(
            "UPDATE aggregator.progress SET status = 'issued' WHERE work_order_id = $1",
            uuid.UUID(ledger.orders[1].id),
        )
        await conn.close()

        found = await check(system.nats_admin_url, system.database_url, ledger, 60.0)
    finally:
        await asyncio.to_thread(system.close)
    assert found.lost == 1
    assert any(f"lost: acknowledged note {never_written.entity}" in p for p in found.problems)
    assert found.duplicated == 1
    assert any(f"duplicated in the log: note {note_id} 2 times" in p for p in found.problems)
    assert not found.rebuild_equal and not found.tables["progress"]["equal"]
    assert found.tables["server_reports"]["equal"]
    assert not found.ok
