"""Scenario e's faults on the bus: poison events published with the NATS admin user, and
redeliveries forced on the aggregator's durable consumer (a short ack wait, and one of two
replicas paused with ``SIGSTOP`` past it, so its messages go to the other)."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from fieldcrew_shared.envelope import Metadata, encode, seal
from fieldcrew_shared.events import Crew, MemberNoteAdded, WorkOrderIssued
from fieldcrew_shared.eventstore import STREAM, EventStore, connect
from nats.js import api

from tests.faults.faults import pause_unless
from tests.faults.ledger import Ledger
from tests.faults.system import System

DURABLE = "aggregator"
META = Metadata(actor="chaos", actorrole="admin", correlationid="chaos")


def _note(wo: uuid.UUID) -> MemberNoteAdded:
    return MemberNoteAdded(work_order_id=wo, note_id=uuid.uuid4(), author="chaos")


def _envelope(event: Any, source: str) -> dict[str, Any]:
    return dict(orjson.loads(encode(seal(event, META, source=source))))


def poison(kind: str, wo: uuid.UUID) -> tuple[str, bytes]:
    """A poison message of ``kind`` for work order ``wo``: its subject and its body."""
    team = f"fieldcrew.team.{wo}.MemberNoteAdded"
    if kind == "not_json":
        return team, b"\x00\xff not json at all"
    if kind == "not_json_as_photo":
        return f"fieldcrew.photos.{wo}.PhotoUploaded", b"\x00\xff not json at all"
    if kind == "not_json_as_work_order":
        return f"fieldcrew.dispatch.{wo}.WorkOrderIssued", b"{not json"
    if kind == "not_an_event":
        return team, b'{"hello": "world"}'
    if kind == "unknown_type":
        doc = _envelope(_note(wo), "fieldcrew/team") | {"type": "fieldcrew.team.Teleported.v1"}
        return f"fieldcrew.team.{wo}.Teleported", orjson.dumps(doc)
    if kind == "future_version":  # one that does not say older readers may read it (ADR 0058)
        doc = _envelope(_note(wo), "fieldcrew/team") | {"type": "fieldcrew.team.MemberNoteAdded.v9"}
        del doc["readablefrom"]
        return team, orjson.dumps(doc)
    if kind == "wrong_source":  # a note claiming to come from photos, on team's subject
        return team, orjson.dumps(_envelope(_note(wo), "fieldcrew/photos"))
    if kind == "bad_payload":
        doc = _envelope(_note(wo), "fieldcrew/team")
        doc["data"] = {"work_order_id": str(wo), "note_id": "not-a-uuid", "author": "chaos"}
        return team, orjson.dumps(doc)
    if kind == "nul_in_crew":  # decodes, but cannot be stored: refused as it is applied
        issued = WorkOrderIssued(work_order_id=wo, title="poison", issued_by="chaos",
                                 crew=Crew(leader="lena\x00", members=("max",)))  # fmt: skip
        return f"fieldcrew.dispatch.{wo}.WorkOrderIssued", encode(
            seal(issued, META, source="fieldcrew/dispatch")
        )
    raise ValueError(kind)


KINDS = ("not_json", "not_an_event", "unknown_type", "future_version", "wrong_source",
         "bad_payload", "not_json_as_photo", "not_json_as_work_order", "nul_in_crew")  # fmt: skip
# A work order with a NUL in a crew name is itself a (forged) work order: published only on
# fresh work orders, never over one the crews play.
FRESH_ONLY = {"nul_in_crew"}


@dataclass
class Poisoner:
    """Publishes one poison event for every ``per`` acknowledged commands (1%: ``per`` 99),
    half on fresh work orders, half on the subjects of work orders the crews are playing."""

    system: System
    ledger: Ledger
    rng: random.Random
    per: int = 99
    at_least: int = 3
    published: dict[int, str] = field(default_factory=dict)  # seq -> kind

    @property
    def satisfied(self) -> bool:
        return len(self.published) >= self.at_least

    async def run(self, stop: asyncio.Event) -> None:
        nc = await connect(self.system.nats_admin_url, name="chaos-poisoner")
        js = nc.jetstream(timeout=10.0)
        try:
            while not await pause_unless(stop, 0.2):
                while len(self.published) < len(self.ledger.acks) // self.per:
                    n = len(self.published)
                    kind = KINDS[n % len(KINDS)]
                    wo, where = self._work_order(
                        kind not in FRESH_ONLY and n // len(KINDS) % 2 == 0
                    )
                    subject, body = poison(kind, wo)
                    ack = await js.publish(subject, body, stream=STREAM)
                    self.published[ack.seq] = f"{kind} on a {where} work order"
        finally:
            await nc.drain()

    def _work_order(self, played: bool) -> tuple[uuid.UUID, str]:
        """A work order the crews are playing (its report not in yet), or a fresh one."""
        playing = [o.id for o in self.ledger.orders.values() if o.id and not o.report]
        if played and playing:
            return uuid.UUID(self.rng.choice(playing)), "played"
        return uuid.UUID(int=self.rng.getrandbits(128), version=4), "fresh"

    def summary(self) -> dict[str, Any]:
        return {"poison": len(self.published)}


@dataclass
class Redeliveries:
    """Sets the aggregator's consumer's ack wait to ``ack_wait`` seconds, then pauses one of
    the two replicas for ``pause`` seconds every ``every`` seconds, until the consumer has
    redelivered messages and ``at_least`` pauses were done."""

    system: System
    rng: random.Random
    ack_wait: float = 1.5
    pause: float = 4.0
    every: tuple[float, float] = (4.0, 8.0)
    at_least: int = 3
    pauses: int = 0
    redelivered: int = 0

    @property
    def satisfied(self) -> bool:
        return self.pauses >= self.at_least and self.redelivered > 0

    async def run(self, stop: asyncio.Event) -> None:
        nc = await connect(self.system.nats_admin_url, name="chaos-redeliveries")
        store = EventStore(nc, source="chaos")
        try:
            info = await store.js.consumer_info(STREAM, DURABLE)
            info.config.ack_wait = self.ack_wait
            await store.js._jsm.add_consumer(STREAM, config=info.config)  # an update
            while not await pause_unless(stop, self.rng.uniform(*self.every)):
                victim = self.rng.choice(["aggregator", "aggregator-2"])
                self.system.pause(victim)
                try:
                    await asyncio.sleep(self.pause)
                finally:
                    self.system.resume(victim)
                self.pauses += 1
                self.redelivered = await _redelivered(store)
        finally:
            await nc.drain()

    def summary(self) -> dict[str, Any]:
        return {"pauses": self.pauses, "redelivered": self.redelivered}


async def _redelivered(store: EventStore) -> int:
    """Deliveries beyond the first of each message so far: the consumer counts every
    delivery, the stream sequence counts messages (the consumer takes every subject)."""
    info: api.ConsumerInfo = await store.js.consumer_info(STREAM, DURABLE)
    delivered = info.delivered
    assert delivered is not None
    return int((delivered.consumer_seq or 0) - (delivered.stream_seq or 0))
