"""Consumers trust an event only in its producer's subject space: on ``fieldcrew.<context>.…``
the CloudEvents ``source`` must be ``fieldcrew/<context>`` and the type a ``<context>`` event.
The projection runner dead-letters any other event with the reason; ``EventStore.load`` skips
it with an error log. Against the session's real NATS and PostgreSQL."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Sequence
from uuid import uuid4

import asyncpg
import pytest
from fieldcrew_cli.servers import Infra
from fieldcrew_shared.envelope import Metadata, check_origin, encode, seal
from fieldcrew_shared.errors import PoisonEventError
from fieldcrew_shared.events import subject_for
from fieldcrew_shared.eventstore import EventStore, Recorded, connect
from fieldcrew_shared.projection import ProjectionRunner

from tests.unit.factories import issued, note

META = Metadata(actor="mallory", actorrole="technician", correlationid="c-origin")


def as_source(admin: EventStore, context: str) -> EventStore:
    """The admin's connection, appending as if it were service ``context``."""
    return EventStore(admin.nc, source=f"fieldcrew/{context}")


@pytest.fixture
async def admin(infra: Infra) -> AsyncIterator[EventStore]:
    nc = await connect(infra.nats_url, name="test-origin-admin")
    yield EventStore(nc, source="fieldcrew/admin")
    await nc.drain()


class Applied:
    """A toy projection recording which events it was given."""

    def __init__(self) -> None:
        self.name = f"origin_{uuid4().hex[:10]}"

    def ddl(self, schema: str) -> str:
        return f"CREATE TABLE IF NOT EXISTS {schema}.applied (seq bigint PRIMARY KEY, type text)"

    async def apply(
        self, conn: asyncpg.Connection, schema: str, records: Sequence[Recorded]
    ) -> None:
        for r in records:
            await conn.execute(
                f"INSERT INTO {schema}.applied VALUES ($1, $2)", r.seq, r.envelope.type
            )


async def test_the_projection_dead_letters_an_event_from_the_wrong_source(
    infra: Infra, admin: EventStore
) -> None:
    wo = uuid4()
    genuine = await as_source(admin, "dispatch").append(issued(wo), META)
    wrong_source = await as_source(admin, "team").append(issued(wo, leader="mallory"), META)
    forged = seal(issued(wo, leader="mallory"), META, source="fieldcrew/team")
    wrong_type = await admin.js.publish(subject_for("team", wo, "WorkOrderIssued"), encode(forged))
    own = await as_source(admin, "team").append(note(wo, "max"), META)
    pool = await asyncpg.create_pool(infra.database_url, min_size=1, max_size=2)
    try:
        runner = ProjectionRunner(admin, pool, Applied(), filter_subject=f"fieldcrew.*.{wo}.>")
        await runner.setup()
        await runner.process(await admin.read(runner.filter_subject, 1))
        applied = await pool.fetch(f"SELECT seq, type FROM {runner.schema}.applied ORDER BY seq")
        dead = dict(await pool.fetch(f"SELECT seq, reason FROM {runner.schema}.dead_letters"))
    finally:
        await pool.close()
    assert [tuple(row) for row in applied] == [
        (genuine.seq, issued(wo).type_name()),
        (own.seq, note(wo, "max").type_name()),
    ]
    assert dead.keys() == {wrong_source.seq, wrong_type.seq}
    assert (
        "source 'fieldcrew/team' does not match subject 'fieldcrew.dispatch."
        in dead[wrong_source.seq]
    )
    assert f"type '{issued(wo).type_name()}' does not belong" in dead[wrong_type.seq]


async def test_load_skips_an_event_from_the_wrong_source_and_logs_why(
    admin: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    wo = uuid4()
    genuine = await as_source(admin, "dispatch").append(issued(wo), META)
    misplaced = await as_source(admin, "photos").append(issued(wo, leader="mallory"), META)
    with caplog.at_level(logging.ERROR, logger="fieldcrew_shared.logreader"):
        loaded = await as_source(admin, "dispatch").load(subject_for("dispatch", wo))
    assert [r.seq for r in loaded.records] == [genuine.seq]
    assert loaded.version == misplaced.seq  # appends still expect the aggregate's last event
    reasons = [str(getattr(r, "reason", "")) for r in caplog.records]
    assert any("source 'fieldcrew/photos' does not match" in why for why in reasons)


async def test_last_skips_poison_and_misplaced_events_for_the_newest_good_one(
    admin: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    wo = uuid4()
    subject = subject_for("dispatch", wo, "WorkOrderIssued")
    genuine = await as_source(admin, "dispatch").append(issued(wo), META)
    await as_source(admin, "photos").append(issued(wo, leader="mallory"), META)
    await admin.js.publish(subject, b"{not json")
    with caplog.at_level(logging.ERROR, logger="fieldcrew_shared.logreader"):
        found = await admin.last(subject)
    assert found is not None and found.seq == genuine.seq and found.event == issued(wo)
    reasons = [str(getattr(r, "reason", "")) for r in caplog.records]
    assert any("not a fieldcrew CloudEvent" in why for why in reasons)
    only_poison = subject_for("dispatch", uuid4(), "WorkOrderIssued")
    await admin.js.publish(only_poison, b"\x00\xff")
    assert await admin.last(only_poison) is None


@pytest.mark.parametrize(
    ("source", "event_context", "subject_context", "refusal"),
    [
        ("fieldcrew/team", "team", "team", None),
        ("fieldcrew/team", "dispatch", "dispatch", "source 'fieldcrew/team' does not match"),
        ("fieldcrew/dispatch", "team", "team", "source 'fieldcrew/dispatch' does not match"),
        ("fieldcrew/team", "dispatch", "team", "does not belong on subject"),
        ("fieldcrew/teams", "team", "team", "source 'fieldcrew/teams' does not match"),
        ("fieldcrew/team", "team", None, "is outside fieldcrew.<context>.>"),
    ],
)
def test_check_origin(
    source: str, event_context: str, subject_context: str | None, refusal: str | None
) -> None:
    wo = uuid4()
    event = issued(wo) if event_context == "dispatch" else note(wo, "max")
    envelope = seal(event, META, source=source)
    subject = f"fieldcrew.{subject_context}.{wo}.X" if subject_context else f"other.team.{wo}.X"
    if refusal is None:
        check_origin(envelope, subject)
    else:
        with pytest.raises(PoisonEventError, match=re.escape(refusal)):
            check_origin(envelope, subject)
