"""Webhooks through the gateway, sent by the aggregator's worker to a real HTTP receiver run
here, which checks every signature (Standard Webhooks) and fails on purpose: 5xx answers and
answers too slow for the sender's timeout. The test stack sends with a 1.5 s timeout, 3
attempts, 0.2 s before the second (tests/e2e/conftest.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx
import pytest
from aiohttp import web
from fieldcrew_shared.events import MemberNoteAdded, WebhookRegistered
from fieldcrew_shared.eventstore import EventStore
from standardwebhooks import Webhook, WebhookVerificationError

from tests.e2e.conftest import Crew, history, issue
from tests.e2e.test_crew_flow import NOTE

NOTES = "fieldcrew.team.MemberNoteAdded.v1"


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers each request with the next planned answer
    (an HTTP status, or ``"stall"``: no answer until the test ends), then 200; keeps what it
    was sent and whether the signature held."""

    plan: list[int | str] = field(default_factory=list)
    secret: str = ""
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    accepted: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            Webhook(self.secret).verify(body, dict(request.headers))
            verified = True
        except WebhookVerificationError:
            verified = False
        answer = self.plan.pop(0) if self.plan else 200
        headers = dict(request.headers)
        seen = {"id": headers.get("webhook-id"), "verified": verified, "body": body}
        self.received.append(seen | {"answer": answer, "headers": headers})
        if answer == "stall":
            await asyncio.wait_for(self.release.wait(), 60)
            answer = 200
        assert isinstance(answer, int)
        if 200 <= answer < 300 and verified:
            self.accepted.put_nowait(request.headers["webhook-id"])
        return web.Response(status=answer)

    async def accepted_id(self) -> str:
        async with asyncio.timeout(45):
            return await self.accepted.get()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    rec.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    yield rec
    rec.release.set()
    await runner.cleanup()


async def register(
    api: httpx.AsyncClient, crew: Crew, url: str, types: list[str], **headers: str
) -> httpx.Response:
    return await api.post(
        "/webhooks",
        json={"url": url, "event_types": types},
        headers={**crew.auth(crew.admin), **headers},
    )


async def deliveries(api: httpx.AsyncClient, crew: Crew, hook: str) -> list[dict[str, Any]]:
    r = await api.get(f"/webhooks/{hook}/deliveries", headers=crew.auth(crew.admin))
    assert r.status_code == 200, r.text
    return list(r.json())


async def settled(api: httpx.AsyncClient, crew: Crew, hook: str, event_id: str) -> dict[str, Any]:
    """The delivery of ``event_id`` once it is no longer pending."""
    async with asyncio.timeout(45):
        while True:
            found = [d for d in await deliveries(api, crew, hook) if d["event_id"] == event_id]
            if found and found[0]["status"] != "pending":
                return found[0]
            await asyncio.sleep(0.2)  # the worker's progress, seen through the API


async def test_deliveries_are_signed_retried_through_failures_and_each_event_accepted_once(
    api: httpx.AsyncClient, crew: Crew, log: EventStore, receiver: Receiver
) -> None:
    r = await register(api, crew, receiver.url, [NOTES])
    assert r.status_code == 201, r.text
    hook, receiver.secret = r.json()["id"], r.json()["secret"]
    assert receiver.secret.startswith("whsec_") and r.json()["event_types"] == [NOTES]
    receiver.plan = [503, "stall"]  # a 5xx, then no answer in time, then 200

    wo = await issue(api, crew)
    note = await api.post(f"/work-orders/{wo}/notes", json=NOTE, headers=crew.auth(crew.leader))
    assert note.status_code == 201, note.text
    [recorded] = [
        r for r in (await history(log, wo)).records if isinstance(r.event, MemberNoteAdded)
    ]
    assert await receiver.accepted_id() == recorded.envelope.id  # webhook-id is the event id

    delivery = await settled(api, crew, hook, recorded.envelope.id)
    # a subscriber to version 1 notes is sent the version 2 the team writes (ADR 0058)
    assert delivery["event_type"] == MemberNoteAdded.type_name() != NOTES
    assert delivery["status"] == "delivered"
    attempts = delivery["attempts"]
    assert [a["outcome"] for a in attempts] == ["failed", "failed", "delivered"]
    assert [a["status_code"] for a in attempts] == [503, None, 200]
    assert "Timeout" in attempts[1]["error"]
    mine = [x for x in receiver.received if x["id"] == recorded.envelope.id]
    assert len(mine) == 3 and all(x["verified"] for x in mine)  # every attempt signed
    assert mine[-1]["body"] == recorded.body  # the event as the log holds it
    assert mine[-1]["headers"]["Content-Type"] == "application/cloudevents+json"
    with pytest.raises(WebhookVerificationError):  # another secret does not verify it
        other = "whsec_" + "QUJD" * 8
        Webhook(other).verify(mine[-1]["body"], mine[-1]["headers"])
    # the issue was not asked for: nothing of it was sent
    assert {x["id"] for x in receiver.received} == {recorded.envelope.id}


async def test_a_receiver_that_keeps_failing_is_dead_lettered_after_the_last_attempt(
    api: httpx.AsyncClient, crew: Crew, log: EventStore, receiver: Receiver
) -> None:
    r = await register(api, crew, receiver.url, [NOTES])
    hook, receiver.secret = r.json()["id"], r.json()["secret"]
    receiver.plan = [500, 502, 500, 500]
    wo = await issue(api, crew)
    await api.post(f"/work-orders/{wo}/notes", json=NOTE, headers=crew.auth(crew.leader))
    [recorded] = [
        r for r in (await history(log, wo)).records if isinstance(r.event, MemberNoteAdded)
    ]
    delivery = await settled(api, crew, hook, recorded.envelope.id)
    assert delivery["status"] == "dead" and delivery["next_attempt_at"] is None
    assert [a["outcome"] for a in delivery["attempts"]] == ["failed", "failed", "dead"]
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 502, 500]
    listed = await api.get("/webhooks", headers=crew.auth(crew.admin))
    [me] = [w for w in listed.json() if w["id"] == hook]
    assert me["deliveries"] == {"dead": 1} and me["url"] == receiver.url and "secret" not in me


async def test_the_log_holds_no_url_or_secret_and_a_retry_registers_once(
    api: httpx.AsyncClient, crew: Crew, log: EventStore, receiver: Receiver
) -> None:
    key = uuid4().hex
    first = await register(api, crew, receiver.url, [NOTES], **{"Idempotency-Key": key})
    again = await register(api, crew, receiver.url, [NOTES], **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    other = await register(api, crew, receiver.url + "/x", [NOTES], **{"Idempotency-Key": key})
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"

    hook = first.json()["id"]
    stored = await log.last(f"fieldcrew.aggregator.{hook}.WebhookRegistered")
    assert stored is not None and isinstance(stored.event, WebhookRegistered)
    assert stored.envelope.source == "fieldcrew/aggregator" and stored.envelope.actor == crew.admin
    raw = (await log.read(f"fieldcrew.aggregator.{hook}.>", stored.seq, 1))[0].body
    assert receiver.url.encode() not in raw and first.json()["secret"].encode() not in raw
    assert first.json()["secret"].split("_", 1)[1].encode() not in raw


async def test_only_an_admin_registers_and_bad_registrations_are_refused(
    api: httpx.AsyncClient, crew: Crew, receiver: Receiver
) -> None:
    body = {"url": receiver.url, "event_types": [NOTES]}
    for who in (crew.dispatcher, crew.leader, crew.analyst):
        r = await api.post("/webhooks", json=body, headers=crew.auth(who))
        assert r.status_code == 403, (who, r.text)
        assert (await api.get("/webhooks", headers=crew.auth(who))).status_code == 403
    for bad, code in [
        ({"url": "ftp://example.com/x", "event_types": [NOTES]}, "bad_url"),
        ({"url": "http://user:pw@127.0.0.1/x", "event_types": [NOTES]}, "bad_url"),
        ({"url": receiver.url, "event_types": ["fieldcrew.team.Nope.v1"]}, "bad_event_types"),
        ({"url": receiver.url, "event_types": ["*", NOTES]}, "bad_event_types"),
        ({"url": receiver.url, "event_types": ["fieldcrew.aggregator.WebhookRegistered.v1"]},
         "bad_event_types"),
    ]:  # fmt: skip
        r = await api.post("/webhooks", json=bad, headers=crew.auth(crew.admin))
        assert r.status_code == 422 and r.json()["error"]["code"] == code, (bad, r.text)
    r = await api.post("/webhooks", json={"url": receiver.url}, headers=crew.auth(crew.admin))
    assert r.status_code == 422
    unknown = await api.get(f"/webhooks/{uuid4()}/deliveries", headers=crew.auth(crew.admin))
    assert unknown.status_code == 404
