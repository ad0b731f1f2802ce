"""The NATS user for readers outside the company: it reads the log and keeps durable
consumers of its own, and publishes nothing to the log nor touches the services' consumers.
Against the session's real nats-server; ``deploy/nats/nats-server.conf`` grants the same."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import nats
import nats.errors
import pytest
from fieldcrew_cli.servers import Infra
from fieldcrew_cli.servers.nats_deploy import generated_part, users_block
from fieldcrew_cli.servers.nats_server import (
    INTEGRATION_INBOX,
    INTEGRATION_USER,
    integration_permissions,
)
from fieldcrew_shared.envelope import Metadata, encode, seal
from fieldcrew_shared.eventstore import STREAM, SUBJECTS, EventStore, connect
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from tests.integration.test_bus_permissions import DEPLOY_CONF, BusUser
from tests.unit.factories import note

META = Metadata(actor="max", actorrole="technician", correlationid="c-integration")


@asynccontextmanager
async def integration(infra: Infra) -> AsyncIterator[BusUser]:
    """Connected as the integration user, with its own inbox prefix."""
    user = BusUser(nats.NATS())
    await user.nc.connect(
        infra.nats_urls[INTEGRATION_USER],
        name="test-integration",
        inbox_prefix=INTEGRATION_INBOX,
        error_cb=user.record,
        allow_reconnect=False,
    )
    try:
        yield user
    finally:
        await user.nc.close()


@pytest.fixture
async def team(infra: Infra) -> AsyncIterator[EventStore]:
    nc = await connect(infra.nats_url, name="test-integration-admin")
    yield EventStore(nc, source="fieldcrew/team")
    await nc.drain()


async def test_it_reads_the_log_and_keeps_a_durable_consumer_of_its_own(
    infra: Infra, team: EventStore
) -> None:
    wo = uuid4()
    appended = await team.append(note(wo, "max"), META)
    durable = f"acme_{uuid4().hex[:8]}"
    async with integration(infra) as me:
        js = me.nc.jetstream(timeout=5)
        assert (await js.stream_info(STREAM)).state.last_seq >= appended.seq
        read = await EventStore(me.nc, source="acme").read(SUBJECTS, appended.seq, 1)
        assert json.loads(read[0].body)["id"] == str(appended.envelope.id)

        config = ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=appended.seq,
        )  # fmt: skip
        sub = await js.pull_subscribe(
            f"fieldcrew.team.{wo}.>", durable=durable, stream=STREAM, config=config
        )
        [msg] = await sub.fetch(1, timeout=5)
        assert msg.metadata.sequence.stream == appended.seq
        await msg.ack_sync()
        info = await js.consumer_info(STREAM, durable)
        assert info.ack_floor.stream_seq == appended.seq
        await sub.unsubscribe()
        await js.delete_consumer(STREAM, durable)
    assert me.errors == []


async def test_it_publishes_nothing_to_the_log(infra: Infra, team: EventStore) -> None:
    wo = uuid4()
    forged = seal(note(wo, "mallory"), META, source="fieldcrew/team")
    subject = f"fieldcrew.team.{wo}.MemberNoteAdded"
    async with integration(infra) as me:
        with pytest.raises(nats.errors.TimeoutError):  # refused: never acknowledged
            await me.nc.jetstream(timeout=2).publish(subject, encode(forged), stream=STREAM)
        assert "publish" in await me.refused(subject)
    assert await team.last(subject) is None


async def test_it_cannot_touch_the_services_consumers_nor_list_them(infra: Infra) -> None:
    async with integration(infra) as me:
        js = me.nc.jetstream(timeout=2)
        with pytest.raises(nats.errors.TimeoutError):
            await js.consumer_info(STREAM, "aggregator")
        await me.refused(f"$JS.API.CONSUMER.INFO.{STREAM}.aggregator")
        with pytest.raises(nats.errors.TimeoutError):
            await js.delete_consumer(STREAM, "aggregator")
        await me.refused(f"$JS.API.CONSUMER.DELETE.{STREAM}.aggregator")
        await me.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.aggregator", b"1")
        await me.refused(f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.aggregator")
        await me.nc.publish(f"$JS.API.CONSUMER.LIST.{STREAM}", b"{}")
        await me.refused(f"$JS.API.CONSUMER.LIST.{STREAM}")
        with pytest.raises(nats.errors.TimeoutError):
            await js.delete_stream(STREAM)
        await me.refused(f"$JS.API.STREAM.DELETE.{STREAM}")
        sub = await me.nc.subscribe("_INBOX.>")  # other users' replies
        await me.refused("_INBOX.>")
        await sub.unsubscribe()


def test_the_deploy_config_grants_the_integration_user_the_same() -> None:
    users = generated_part(DEPLOY_CONF.read_text())
    assert users == users_block()  # generated from permissions_of (test_bus_permissions.py)
    expected = json.dumps(integration_permissions(), indent=2).replace("\n", "\n      ")
    assert (
        f'{{ user: "{INTEGRATION_USER}", password: $FIELDCREW_NATS_INTEGRATION_PASSWORD,'
        f" permissions: {expected} }}" in users
    )
