"""The bus: every service has its own NATS user that may publish only its own events and may
not administer the stream (nor create consumers other than its own, nor subscribe to the log).
Against the real nats-server of the session, and, where the stream must be missing, a second
real nats-server started here. ``deploy/nats/nats-server.conf`` must grant the same."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import UUID, uuid4

import nats
import nats.errors
import pytest
from fieldcrew_cli.servers import Infra, Ports
from fieldcrew_cli.servers.nats_deploy import generated_part, password_variable, users_block
from fieldcrew_cli.servers.nats_server import (
    INTEGRATION_USER,
    NATS_USER,
    SERVICE_USERS,
    NatsServer,
    service_permissions,
)
from fieldcrew_cli.servers.process import find_binary
from fieldcrew_cli.stack import SERVICES, Stack, service_env
from fieldcrew_shared.envelope import Metadata, encode, seal
from fieldcrew_shared.errors import BackendUnavailableError
from fieldcrew_shared.events import Event, ServerReportCompiled, ShareLinkRevoked, subject_for
from fieldcrew_shared.eventstore import STREAM, EventStore, connect
from fieldcrew_shared.natsclient import inbox_prefix
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from tests.unit.factories import issued, note, photo

META = Metadata(actor="mallory", actorrole="technician", correlationid="c-bus")
STREAM_ADMIN = ["CREATE", "UPDATE", "DELETE", "PURGE", "MSG.DELETE"]
DEPLOY_CONF = Path(__file__).parents[2] / "deploy" / "nats" / "nats-server.conf"


def sample(context: str, wo: UUID) -> Event:
    """One event of each context, for work order ``wo``."""
    events: dict[str, Event] = {
        "dispatch": issued(wo),
        "team": note(wo, "max"),
        "photos": photo(wo, "max", "ab" * 32),
        "aggregator": ServerReportCompiled(work_order_id=wo, revision=1),
        "documents": ShareLinkRevoked(work_order_id=wo, link_id=wo, revoked_by="dora"),
    }
    return events[context]


class BusUser:
    """A connection as one NATS user, keeping what the server refused (``-ERR`` permission
    violations reach the error callback; the refused message itself goes nowhere)."""

    def __init__(self, nc: nats.NATS) -> None:
        self.nc = nc
        self.errors: list[str] = []
        self.changed = asyncio.Condition()

    async def record(self, exc: Exception) -> None:
        async with self.changed:
            self.errors.append(str(exc).lower())
            self.changed.notify_all()

    async def refused(self, subject: str) -> str:
        """The server's permissions violation naming ``subject`` (waits for it)."""
        wanted = f'"{subject.lower()}"'

        def found() -> str | None:
            return next(
                (e for e in self.errors if "permissions violation" in e and wanted in e), None
            )

        async with asyncio.timeout(10), self.changed:
            await self.changed.wait_for(lambda: found() is not None)
        return found() or ""


@asynccontextmanager
async def bus_user(url: str, service: str, inbox: str | None = None) -> AsyncIterator[BusUser]:
    """Connected as ``service``'s NATS user, with its own inbox prefix (or ``inbox``)."""
    user = BusUser(nats.NATS())
    await user.nc.connect(
        url,
        name="test-bus",
        error_cb=user.record,
        allow_reconnect=False,
        inbox_prefix=inbox or inbox_prefix(service),
    )
    try:
        yield user
    finally:
        await user.nc.close()


@pytest.fixture
async def admin(infra: Infra) -> AsyncIterator[EventStore]:
    nc = await connect(infra.nats_url, name="test-bus-admin")
    yield EventStore(nc, source="fieldcrew/admin")
    await nc.drain()


def as_source(admin: EventStore, context: str) -> EventStore:
    """The admin's connection, appending as if it were service ``context``."""
    return EventStore(admin.nc, source=f"fieldcrew/{context}")


async def test_the_team_service_cannot_issue_a_work_order(infra: Infra, admin: EventStore) -> None:
    wo = uuid4()
    forged = seal(issued(wo, leader="mallory"), META, source="fieldcrew/dispatch")
    subject = subject_for("dispatch", wo, "WorkOrderIssued")
    async with bus_user(infra.nats_urls["team"], "team") as team:
        js = team.nc.jetstream(timeout=2)
        with pytest.raises(nats.errors.TimeoutError):  # a refused publish is never acked
            await js.publish(subject, encode(forged), stream=STREAM)
        assert "publish" in await team.refused(subject)
    assert await admin.last(subject) is None


async def test_the_team_service_cannot_delete_the_stream(infra: Infra, admin: EventStore) -> None:
    before = await admin.js.stream_info(STREAM)
    async with bus_user(infra.nats_urls["team"], "team") as team:
        with pytest.raises(nats.errors.TimeoutError):
            await team.nc.jetstream(timeout=2).delete_stream(STREAM)
        await team.refused(f"$JS.API.STREAM.DELETE.{STREAM}")
    after = await admin.js.stream_info(STREAM)
    assert after.created == before.created and after.config == before.config
    assert after.state.first_seq == before.state.first_seq
    assert after.state.messages >= before.state.messages


@pytest.mark.parametrize("service", SERVICE_USERS)
async def test_a_service_publishes_its_own_events_and_nobody_elses(
    infra: Infra, admin: EventStore, service: str
) -> None:
    wo = uuid4()
    others = [other for other in SERVICE_USERS if other != service]
    async with bus_user(infra.nats_urls[service], service) as user:
        own = EventStore(user.nc, source=f"fieldcrew/{service}")
        appended = await own.append(sample(service, wo), META)
        for other in others:
            event = sample(other, wo)
            await user.nc.publish(event.subject, encode(seal(event, META, source=other)))
        for other in others:
            await user.refused(sample(other, wo).subject)
    assert (await admin.last(sample(service, wo).subject)) is not None
    assert appended.seq > 0
    for other in others:
        assert await admin.last(sample(other, wo).subject) is None


@pytest.mark.parametrize("service", SERVICE_USERS)
async def test_no_service_may_administer_the_stream_or_tap_the_bus(
    infra: Infra, admin: EventStore, service: str
) -> None:
    before = await admin.js.stream_info(STREAM)
    denied = [f"$JS.API.STREAM.{op}.{STREAM}" for op in STREAM_ADMIN]
    denied += [
        "$JS.API.STREAM.CREATE.SHADOW",
        f"$JS.API.CONSUMER.CREATE.{STREAM}.snoop.fieldcrew.>",
        f"$JS.API.CONSUMER.DELETE.{STREAM}.aggregator",
    ]
    async with bus_user(infra.nats_urls[service], service) as user:
        for subject in denied:
            await user.nc.publish(subject, b"{}", reply=user.nc.new_inbox())
        await user.nc.subscribe("fieldcrew.>")
        for subject in [*denied, "fieldcrew.>"]:
            await user.refused(subject)
    after = await admin.js.stream_info(STREAM)
    assert (after.created, after.config) == (before.created, before.config)


async def test_no_service_reads_or_answers_another_services_replies(
    infra: Infra, admin: EventStore
) -> None:
    photos_inbox = inbox_prefix("photos")
    async with (
        bus_user(infra.nats_urls["photos"], "photos") as photos,
        bus_user(infra.nats_urls["team"], "team") as team,
    ):
        heard: asyncio.Queue[bytes] = asyncio.Queue()

        async def hear(msg: Msg) -> None:
            await heard.put(msg.data)

        await photos.nc.subscribe(f"{photos_inbox}.>", cb=hear)
        await photos.nc.flush()
        await team.nc.subscribe(f"{photos_inbox}.>")
        await team.nc.subscribe("_INBOX.>")
        await team.nc.publish(f"{photos_inbox}.answer", b"forged answer")
        assert "subscription" in await team.refused(f"{photos_inbox}.>")
        assert "subscription" in await team.refused("_INBOX.>")
        assert "publish" in await team.refused(f"{photos_inbox}.answer")
        await admin.nc.publish(f"{photos_inbox}.answer", b"genuine answer")
        async with asyncio.timeout(10):
            assert await heard.get() == b"genuine answer"  # the forged one never came
        assert photos.errors == []


@pytest.mark.parametrize("service", ["team", "aggregator"])
async def test_a_service_gets_every_reply_under_its_own_inbox_and_none_under_another(
    infra: Infra, service: str
) -> None:
    wo = uuid4()
    async with bus_user(infra.nats_urls[service], service) as user:
        store = EventStore(user.nc, source=f"fieldcrew/{service}")
        appended = await store.append(sample(service, wo), META)  # JetStream's ack
        assert (await store.load(f"fieldcrew.*.{wo}.>")).version == appended.seq  # direct gets
        assert await store.last_sequence() >= appended.seq  # a JetStream API reply
        assert user.errors == []
    async with bus_user(infra.nats_urls[service], service, inbox="_INBOX") as shared:
        store = EventStore(shared.nc, source=f"fieldcrew/{service}", timeout=1.0)
        with pytest.raises(BackendUnavailableError):
            await store.last_sequence()
        refusals = [e for e in shared.errors if "permissions violation" in e]
        assert refusals and all('subscription to "_inbox.' in e for e in refusals), refusals


def test_the_stack_gives_each_service_its_own_user(infra: Infra, tmp_path: Path) -> None:
    ports = {name: 1 for name in SERVICES}
    stack = Stack(logs=tmp_path, env=service_env(infra, tmp_path / "key.pem", ports))
    for service in SERVICE_USERS:
        env = stack.env_of(service)
        assert env["FIELDCREW_NATS_URL"] == infra.nats_urls[service] != infra.nats_url
        assert not any(k.endswith("_NATS_URL") for k in env if k != "FIELDCREW_NATS_URL")
    assert "FIELDCREW_NATS_URL" not in stack.env_of("gateway")


@pytest.fixture(scope="module")
def bare_nats() -> Iterator[NatsServer]:
    """A second real nats-server with the same users, and no stream yet."""
    with tempfile.TemporaryDirectory(prefix="fieldcrew-bus-") as folder:
        root, ports = Path(folder), Ports.free()
        users = {service: secrets.token_hex(16) for service in SERVICE_USERS}
        server = NatsServer(root / "nats", ports.nats, None, secrets.token_hex(16), users)
        (root / "logs").mkdir()
        proc = server.launch(root / "logs")
        try:
            server.wait_ready(proc, time.monotonic() + 30)
            yield server
        finally:
            proc.stop()


async def test_a_service_cannot_create_the_missing_stream_but_the_admin_can(
    bare_nats: NatsServer,
) -> None:
    async with bus_user(bare_nats.service_urls["team"], "team") as team:
        store = EventStore(team.nc, source="fieldcrew/team", timeout=1.0)
        with pytest.raises(
            BackendUnavailableError, match=r"missing.*fieldcrew stream --replicas 1"
        ):
            await store.ensure_stream()
        await team.refused(f"$JS.API.STREAM.CREATE.{STREAM}")
        admin_nc = await connect(bare_nats.url, name="test-bus-admin")
        await EventStore(admin_nc, source="fieldcrew/admin").ensure_stream()
        await admin_nc.drain()
        await store.ensure_stream()  # there now: the service only looks it up
        assert (await store.append(note(uuid4(), "max"), META)).seq >= 1


async def test_the_aggregator_pulls_and_acks_its_own_durable_consumer_only(
    bare_nats: NatsServer,
) -> None:
    admin_nc = await connect(bare_nats.url, name="test-bus-admin")
    admin = EventStore(admin_nc, source="fieldcrew/admin")
    await admin.ensure_stream()
    wo = uuid4()
    for context in ("dispatch", "team", "photos"):
        await as_source(admin, context).append(sample(context, wo), META)
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT)
    async with bus_user(bare_nats.service_urls["aggregator"], "aggregator") as aggregator:
        js = aggregator.nc.jetstream(timeout=2)
        sub = await js.pull_subscribe("fieldcrew.>", "aggregator", stream=STREAM, config=config)
        msgs = await sub.fetch(3, timeout=5)
        for msg in msgs:
            await msg.ack_sync()
        info = await admin.js.consumer_info(STREAM, "aggregator")
        assert info.ack_floor.stream_seq == msgs[-1].metadata.sequence.stream
        assert info.num_ack_pending == 0 and aggregator.errors == []
        with pytest.raises(nats.errors.TimeoutError):
            await js.pull_subscribe("fieldcrew.>", "snoop", stream=STREAM, config=config)
        await aggregator.refused(f"$JS.API.CONSUMER.INFO.{STREAM}.snoop")
    await admin_nc.drain()


def test_the_deploy_config_grants_what_the_embedded_server_grants() -> None:
    text = DEPLOY_CONF.read_text()
    assert generated_part(text) == users_block(), (
        "deploy/nats/nats-server.conf's users differ from permissions_of: run "
        ".venv/bin/python -m fieldcrew_cli.servers.nats_deploy deploy/nats/nats-server.conf"
    )
    for service in SERVICE_USERS:  # each subscribes under its own inbox prefix only
        assert service_permissions(service)["subscribe"]["allow"] == [f"_INBOX_{service}.>"]
    passwords = re.findall(r"password: \$(\w+)", text)
    users = (NATS_USER, *SERVICE_USERS, INTEGRATION_USER)
    assert sorted(passwords) == sorted(password_variable(user) for user in users)
    env = {**os.environ, **{name: secrets.token_hex(16) for name in passwords}}
    check = [str(find_binary("nats-server")), "-t", "-c", str(DEPLOY_CONF)]
    assert subprocess.run(check, env=env, capture_output=True).returncode == 0
