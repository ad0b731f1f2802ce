"""Projections: PostgreSQL read models fed by a durable JetStream consumer.

Exactly-once effects on at-least-once delivery: a batch of events is applied and the stream
position it reached is stored **in the same transaction**; messages are acked only after the
commit; a message at or below the stored position is skipped. The stored position is the
truth, not the order of delivery: JetStream hands out new messages while older ones wait for
redelivery (held by a replica that died, nak'd after a failed batch), so a delivery that does
not follow on from the position has the events between read from the log first (ADR 0011).
An event that cannot be decoded or applied is written to ``<schema>.dead_letters`` with its
reason and skipped, so the consumer never stalls. A failure of PostgreSQL itself is not
poison: the batch is nak'd and comes back later.

A projection lives in one schema. ``<meta>.heads`` names the live schema of each projection so
that a rebuild can replay into a fresh schema and switch over in one transaction.

Here: the runner's live side (the consumer, the acks, the heads). Applying a batch, dead
letters and replays are :class:`fieldcrew_shared.projection_writer.ProjectionWriter`'s, which
the runner extends; ``Projection`` and ``ReplayCache`` are importable from here too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

import asyncpg
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError as JsNotFoundError

from fieldcrew_shared.errors import BackendUnavailableError, FieldcrewError
from fieldcrew_shared.eventstore import EventStore, RawEvent
from fieldcrew_shared.projection_writer import (
    DATABASE_FAILURES,
    Projection,
    ProjectionWriter,
    ReplayCache,
)

__all__ = ["DATABASE_FAILURES", "Projection", "ProjectionRunner", "ReplayCache", "create_schema"]

log = logging.getLogger(__name__)

BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS {s}.checkpoint (
    id boolean PRIMARY KEY DEFAULT true CHECK (id), position bigint NOT NULL);
INSERT INTO {s}.checkpoint VALUES (true, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS {s}.dead_letters (
    seq bigint PRIMARY KEY, subject text NOT NULL, reason text NOT NULL,
    body bytea NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now());
"""


class ProjectionRunner(ProjectionWriter):
    """Feeds one projection from a durable consumer, keeping its position in PostgreSQL."""

    def __init__(
        self,
        store: EventStore,
        pool: asyncpg.Pool,
        projection: Projection,
        *,
        filter_subject: str = "fieldcrew.>",
        batch: int = 256,
        after_commit: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(store, pool, projection, filter_subject=filter_subject)
        self.batch = batch
        self.after_commit = after_commit
        self.schema = projection.name
        self.position = 0
        self._advanced = asyncio.Condition()

    async def setup(self) -> None:
        """Create the heads table and the live schema on first start; read the live schema."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.meta)
            await conn.execute(
                f"CREATE SCHEMA IF NOT EXISTS {self.meta};"
                f"CREATE TABLE IF NOT EXISTS {self.meta}.heads (live text NOT NULL)"
            )
            live = await conn.fetchval(f"SELECT live FROM {self.meta}.heads")
            if live is None:
                live = self.projection.name
                await conn.execute(f"INSERT INTO {self.meta}.heads VALUES ($1)", live)
            await create_schema(conn, self.projection, live)
        self.schema = live

    def consumer_config(self, position: int = 0) -> api.ConsumerConfig:
        """The durable consumer feeding the live projection. Made again after it was lost
        (deleted by an operator, a NATS incident), it starts after ``position``, the one the
        projection has committed, instead of delivering the whole log again."""
        config = api.ConsumerConfig(
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            max_ack_pending=self.batch * 4,
            ack_wait=60,
        )
        if position > 0:
            config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = position + 1
        return config

    async def lag(self) -> dict[str, int]:
        """How far behind the live runner is: the durable consumer's messages not yet
        delivered (``pending``) and delivered but not yet acknowledged (``ack_pending``), and
        the stream position the projection has committed."""
        try:
            info = await self.store.js.consumer_info(self.store.stream, self.projection.name)
        except JsNotFoundError as exc:
            raise BackendUnavailableError(
                f"durable consumer {self.projection.name} does not exist"
            ) from exc
        except (NatsTimeoutError, NoRespondersError, ConnectionClosedError) as exc:
            raise BackendUnavailableError("JetStream is not answering") from exc
        return {
            "pending": info.num_pending or 0,
            "ack_pending": info.num_ack_pending or 0,
            "position": self.position,
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set. Raises when NATS fails it (a lost consumer, a closed
        connection, ...): meant to run supervised (:mod:`fieldcrew_shared.supervision`), which
        starts it again, the durable consumer made again if it is gone. A failure of
        PostgreSQL only pauses it."""
        sub = await self.store.js.pull_subscribe(
            self.filter_subject,
            durable=self.projection.name,
            stream=self.store.stream,
            config=self.consumer_config(await self._committed()),
        )
        try:
            while not stop.is_set():
                try:
                    await self._step(sub)
                except DATABASE_FAILURES as exc:
                    log.warning("projection paused: PostgreSQL failed", extra={"why": repr(exc)})
                    await asyncio.sleep(1.0)  # back off while the database is away
        finally:
            # a pull subscription left open makes nc.drain() hang; on a closed connection
            # there is nothing left to close
            with suppress(NatsError):
                await sub.unsubscribe()

    async def _committed(self) -> int:
        """The position the live schema has committed."""
        async with self.pool.acquire() as conn:
            schema = await conn.fetchval(f"SELECT live FROM {self.meta}.heads")
            position: int = await conn.fetchval(f"SELECT position FROM {schema}.checkpoint")
        return position

    async def _step(self, sub: JetStreamContext.PullSubscription) -> None:
        try:
            msgs = await sub.fetch(self.batch, timeout=1.0)
        except NatsTimeoutError:  # idle: follow a rebuild's switch-over for the readers
            self.schema = await self.pool.fetchval(f"SELECT live FROM {self.meta}.heads")
            return
        await self._handle(msgs)

    async def _handle(self, msgs: list[Msg]) -> None:
        if not msgs:  # fetch can return an empty list instead of timing out
            return
        delivered = [RawEvent(m.metadata.sequence.stream, m.subject, m.data) for m in msgs]
        last = max(d.seq for d in delivered)
        try:
            while True:  # more than one transaction only when a gap was read from the log
                self.schema, position = await self.process(delivered)
                await self._advance(position)
                if position >= last:
                    break
        except DATABASE_FAILURES as exc:
            log.warning("projection batch failed; will retry", extra={"why": repr(exc)})
            for m in msgs:
                await m.nak(delay=1.0)
            return
        for m in msgs:
            await m.ack()
        if self.after_commit is not None:
            try:
                await self.after_commit(self.schema)
            except FieldcrewError as exc:  # retried after the next batch or at start
                log.warning("after-commit step failed", extra={"why": exc.message})

    async def _advance(self, position: int) -> None:
        async with self._advanced:
            self.position = max(self.position, position)
            self._advanced.notify_all()

    async def wait_for(self, seq: int) -> None:
        """Return once the live runner has committed everything up to ``seq``."""
        async with self._advanced:
            await self._advanced.wait_for(lambda: self.position >= seq)


async def create_schema(conn: asyncpg.Connection, projection: Projection, schema: str) -> None:
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    await conn.execute(BOOKKEEPING.format(s=schema))
    await conn.execute(projection.ddl(schema))
