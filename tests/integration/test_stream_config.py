"""The event log's durability, against a real nats-server started here (the stream must be made
and broken on purpose, so not on the session's server): an existing stream is checked at
every start, the admin fixes what could lose history (logged), a service refuses to start on
it, a limit never deletes an event, and what JetStream cannot change is a clear error."""

from __future__ import annotations

import logging
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from fieldcrew_cli.servers import Ports
from fieldcrew_cli.servers.nats_server import SERVICE_USERS, NatsServer
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import StreamConfigError
from fieldcrew_shared.eventstore import STREAM, EventStore, connect
from fieldcrew_shared.natsclient import inbox_prefix
from fieldcrew_shared.stream import SUBJECTS, problems
from nats.js import api
from nats.js.errors import APIError

from tests.unit.factories import issued

META = Metadata(actor="dora", actorrole="dispatcher", correlationid="c-stream")


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """A fresh single-node nats-server with the admin and the services' users, no stream."""
    with tempfile.TemporaryDirectory(prefix="fieldcrew-stream-") as folder:
        root, port = Path(folder), Ports.free().nats
        users = {service: secrets.token_hex(16) for service in SERVICE_USERS}
        server = NatsServer(root / "nats", port, None, secrets.token_hex(16), users)
        (root / "logs").mkdir()
        proc = server.launch(root / "logs")
        try:
            server.wait_ready(proc, time.monotonic() + 30)
            yield server
        finally:
            proc.stop()


@pytest.fixture
async def admin(nats_server: NatsServer) -> AsyncIterator[EventStore]:
    nc = await connect(nats_server.url, name="test-stream-admin")
    yield EventStore(nc, source="fieldcrew/dispatch")
    await nc.drain()


async def test_an_old_stream_is_fixed_by_the_admin_and_refused_by_a_service(
    nats_server: NatsServer, admin: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    old = api.StreamConfig(name=STREAM, subjects=[SUBJECTS], max_msgs=1_000_000)  # NATS defaults
    await admin.js.add_stream(old)
    wo = uuid4()
    await admin.append(issued(wo), META)
    team_nc = await connect(
        nats_server.service_urls["team"], name="test-stream-team", inbox_prefix=inbox_prefix("team")
    )
    team = EventStore(team_nc, source="fieldcrew/team")
    try:
        with pytest.raises(StreamConfigError) as refused:
            await team.ensure_stream()
        message = str(refused.value)
        assert message.startswith(f"stream {STREAM} is not configured to keep the log: ")
        assert "discard is old, wanted new" in message
        assert "max_msgs is 1000000, wanted -1 (no limit deletes history)" in message
        assert "deny_delete is False, wanted True" in message
        assert message.endswith("The NATS admin fixes it: fieldcrew stream --replicas 1")

        with caplog.at_level(logging.WARNING, logger="fieldcrew_shared.stream"):
            await admin.ensure_stream(update=True)
        [record] = [r for r in caplog.records if r.name == "fieldcrew_shared.stream"]
        assert record.getMessage().startswith(f"stream {STREAM} updated to keep the log: ")
        assert "discard is old, wanted new" in record.getMessage()
        fixed = await admin.js.stream_info(STREAM)
        assert problems(fixed.config, replicas=1) == []
        assert fixed.state.messages == 1  # nothing lost by the update

        await team.ensure_stream()  # the service starts now, and reads what was there
        assert len((await team.load(f"fieldcrew.*.{wo}.>")).records) == 1
    finally:
        await team_nc.drain()


async def test_a_limit_refuses_new_events_and_never_deletes_old_ones(admin: EventStore) -> None:
    await admin.ensure_stream()
    first = [await admin.append(issued(uuid4()), META) for _ in range(3)]
    limited = (await admin.js.stream_info(STREAM)).config.evolve(max_msgs=3)
    await admin.js.update_stream(limited)  # an operator's mistake
    with pytest.raises(APIError, match="maximum messages exceeded"):
        await admin.js.publish(issued(uuid4()).subject, b"{}", stream=STREAM)
    info = await admin.js.stream_info(STREAM)
    assert (info.state.first_seq, info.state.messages) == (first[0].seq, 3)  # all still there
    with pytest.raises(APIError):
        await admin.js.purge_stream(STREAM)
    with pytest.raises(APIError):
        await admin.js.delete_msg(STREAM, first[0].seq)
    await admin.ensure_stream(update=True)  # the next start removes the limit again
    assert (await admin.append(issued(uuid4()), META)).seq == first[-1].seq + 1
    assert (await admin.js.stream_info(STREAM)).state.messages == 4


async def test_what_jetstream_cannot_change_is_a_clear_error(admin: EventStore) -> None:
    memory = api.StreamConfig(name=STREAM, subjects=[SUBJECTS], storage=api.StorageType.MEMORY)
    await admin.js.add_stream(memory)
    with pytest.raises(StreamConfigError, match="storage is memory, wanted file") as refused:
        await admin.ensure_stream(update=True)
    assert "JetStream refused to change it: stream configuration update can not change" in str(
        refused.value
    )
    await admin.js.delete_stream(STREAM)
    await admin.ensure_stream()
    with pytest.raises(StreamConfigError, match="replicas > 1 not supported in non-clustered"):
        await admin.ensure_stream(replicas=3, update=True)


async def test_a_service_takes_the_list_of_every_nats_url(nats_server: NatsServer) -> None:
    gone = Ports.free().nats  # nothing listens there: nats-py goes on to the next server
    user, password = "dispatch", nats_server.service_passwords["dispatch"]
    urls = f"nats://{user}:{password}@127.0.0.1:{gone},{nats_server.service_urls['dispatch']}"
    admin_nc = await connect(nats_server.url, name="test-stream-admin")
    await EventStore(admin_nc, source="fieldcrew/admin").ensure_stream()
    await admin_nc.drain()
    nc = await connect(urls, name="test-stream-list", inbox_prefix=inbox_prefix("dispatch"))
    try:
        assert nc.connected_url is not None and nc.connected_url.port == nats_server.port
        appended = await EventStore(nc, source="fieldcrew/dispatch").append(issued(uuid4()), META)
        assert appended.seq == 1
    finally:
        await nc.drain()
