"""The checker finds what it must: an acknowledged command missing from the log, an event
twice in the log, a projection that differs from its rebuild. Made on purpose, after a clean
check, on NATS and PostgreSQL of this test's own with the aggregator running in-process."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from fieldcrew_aggregator.config import Settings
from fieldcrew_aggregator.main import create_app
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.events import (
    Event,
    PhotoRenditionFailed,
    PhotoRenditionsMade,
    PhotoUploaded,
)
from fieldcrew_shared.eventstore import EventStore, connect
from fieldcrew_shared.photo_objects import served_key, thumbnail_key

from tests.conftest import AUDIENCE, ISSUER, app_client
from tests.faults.checker import Verdict, check
from tests.faults.ledger import Ack, Ledger, Order
from tests.servers import OwnServers
from tests.unit.factories import issued, note, photo, report

META = Metadata(actor="tests", actorrole="technician", correlationid="checker")
CREW = ("lead", "m1", "m2", "m3")


@pytest.fixture(scope="module")
def own() -> Iterator[OwnServers]:
    with OwnServers() as servers:
        yield servers


async def play(admin: EventStore, ledger: Ledger, n: int) -> None:
    """One work order written straight to the log, and the ledger a crew would have kept."""
    wo = uuid.uuid4()
    order = Order(n, "disp", CREW[0], list(CREW[1:]), id=str(wo))
    ledger.orders[n] = order

    async def write(event: Event, kind: str, actor: str, entity: object) -> None:
        await admin_write(admin, event)
        now = time.monotonic()
        ledger.ack(Ack(kind, str(wo), actor, str(entity), 201, 1, now, now))

    await write(issued(wo, CREW[0], CREW[1:]), "issue", "disp", wo)
    notes = [note(wo, who) for who in CREW]
    for n_ in notes:
        await write(n_, "note", n_.author, n_.note_id)
        order.notes[str(n_.note_id)] = n_.author
    for who in CREW:
        sha = uuid.uuid4().hex * 2
        uploaded = photo(wo, who, sha, "leader" if who == CREW[0] else "member")
        await write(uploaded, "photo", who, sha)
        order.photos[sha] = {who}
        await admin_write(admin, copies(uploaded))  # what the photos' rendition worker writes
    submitted = report(wo, CREW[0], tuple(n_.note_id for n_ in notes))
    await write(submitted, "report", CREW[0], submitted.report_id)
    order.report = str(submitted.report_id)


def copies(uploaded: PhotoUploaded) -> PhotoRenditionsMade:
    sha = uploaded.sha256
    return PhotoRenditionsMade(
        work_order_id=uploaded.work_order_id, photo_id=uploaded.photo_id, sha256=sha,
        served_key=served_key(sha), served_width=64, served_height=48,
        thumbnail_key=thumbnail_key(sha), thumbnail_width=64, thumbnail_height=48,
    )  # fmt: skip


async def admin_write(admin: EventStore, event: Event) -> None:
    await EventStore(admin.nc, source=f"fieldcrew/{event.context}").append(event, META)


async def test_the_checker_finds_a_lost_command_a_duplicate_and_a_wrong_projection(
    own: OwnServers, keys: tuple[Path, Path]
) -> None:
    infra = own.infra
    settings = Settings(
        nats_url=infra.nats_urls["aggregator"], database_url=infra.database_url,
        jwt_public_key_file=keys[1], jwt_issuer=ISSUER, jwt_audience=AUDIENCE,
        outbox_flush_interval=0.5,
    )  # fmt: skip
    nc = await connect(infra.nats_url, name="checker-admin")
    admin = EventStore(nc, source="fieldcrew/admin")
    ledger = Ledger()
    try:
        async with app_client(create_app(settings)):
            for n in range(3):
                await play(admin, ledger, n)
            clean = await check(infra.nats_url, infra.database_url, ledger, 30.0)
            found = await tamper_and_check(admin, infra.nats_url, infra.database_url, ledger)
    finally:
        await nc.drain()
    assert clean.ok and clean.reports_right == 3 and clean.acked == 30, "\n".join(clean.problems)
    assert found.lost == 1, found.problems
    assert any("lost: acknowledged note" in p for p in found.problems)
    assert found.duplicated == 2
    assert any("duplicated in the log: note" in p and "2 times" in p for p in found.problems)
    assert any("duplicated in the log: copies of photo" in p for p in found.problems)
    assert any("failed: the original is gone" in p for p in found.problems)
    assert not found.rebuild_equal and not found.tables["progress"]["equal"]
    assert found.tables["server_reports"]["equal"] and found.tables["checkpoint"]["equal"]
    assert not found.ok


async def tamper_and_check(
    admin: EventStore, nats_url: str, database_url: str, ledger: Ledger
) -> Verdict:
    """An acknowledged note the log never got; a note appended a second time (another event
    id, so the log keeps both); a photo whose copies were made also recorded failed; one
    progress row changed behind the projection's back."""
    first, second = ledger.orders[0], ledger.orders[1]
    ghost = Ack("note", first.id, "m1", str(uuid.uuid4()), 201, 1, 0.0, 0.0)
    ledger.ack(ghost)
    note_id, author = next(iter(first.notes.items()))
    again = note(uuid.UUID(first.id), author, note_id=uuid.UUID(note_id))
    await EventStore(admin.nc, source="fieldcrew/team").append(again, META)
    made = await admin.load(f"fieldcrew.photos.{first.id}.PhotoRenditionsMade")
    done = made.events[0]
    assert isinstance(done, PhotoRenditionsMade)
    failed = PhotoRenditionFailed(
        work_order_id=done.work_order_id, photo_id=done.photo_id, sha256=done.sha256,
        reason="the original is gone", attempts=4,
    )  # fmt: skip
    await admin_write(admin, failed)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE aggregator.progress SET status = 'issued' WHERE work_order_id = $1",
            uuid.UUID(second.id),
        )
    finally:
        await conn.close()
    return await check(nats_url, database_url, ledger, 30.0)
