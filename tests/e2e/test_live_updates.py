"""Live updates through the gateway (Server-Sent Events streamed through the proxy): a work
order's events as they are recorded, shaped for the caller; a dropped connection resumed with
``Last-Event-ID`` without gaps or repeats; heartbeats; the office's feed of every work order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fieldcrew_shared.auth import LEEWAY_SECONDS
from fieldcrew_shared.eventstore import EventStore

from tests.conftest import TokenFactory
from tests.e2e.conftest import Crew, history, issue

NOTE = {"findings": "bearing noisy", "parts": [{"part_no": "B-6204", "qty": 1}]}


@dataclass
class Stream:
    """One open event stream: its events as they arrive, and how many heartbeats came."""

    response: httpx.Response
    lines: AsyncIterator[str]
    heartbeats: int = 0
    pending: dict[str, str] = field(default_factory=dict)

    async def next(self, seconds: float = 30) -> dict[str, Any]:
        """The next event (bounded wait); heartbeats are counted on the way."""
        async with asyncio.timeout(seconds):
            async for line in self.lines:
                if line.startswith(":"):
                    self.heartbeats += 1
                elif line:
                    name, _, value = line.partition(":")
                    self.pending[name] = value.removeprefix(" ")
                elif self.pending:
                    event, self.pending = self.pending, {}
                    data = json.loads(event["data"])
                    assert event["id"] == str(data["seq"]) and event["event"] == data["type"]
                    return dict(data)
        raise AssertionError("the stream ended")

    async def until(self, kind: str) -> list[dict[str, Any]]:
        """Events up to and with the first of type ``kind``."""
        seen = [await self.next()]
        while seen[-1]["type"] != kind:
            seen.append(await self.next())
        return seen


@asynccontextmanager
async def opened(
    api: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> AsyncIterator[Stream]:
    async with api.stream("GET", path, headers=headers, timeout=60) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Stream(response, response.aiter_lines())


async def note(api: httpx.AsyncClient, crew: Crew, wo: str, who: str, text: str) -> str:
    r = await api.post(
        f"/work-orders/{wo}/notes", json={**NOTE, "findings": text}, headers=crew.auth(who)
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_a_work_orders_events_live_shaped_for_each_caller(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    path = f"/work-orders/{wo}/events"
    member, other = crew.members[0], crew.members[1]
    async with (
        opened(api, path, crew.auth(crew.leader)) as leader,
        opened(api, path, crew.auth(other)) as bystander,
        opened(api, path, crew.auth(crew.dispatcher)) as office,
    ):
        for stream in (leader, bystander, office):
            first = await stream.next()
            assert first["type"] == "WorkOrderIssued" and first["work_order_id"] == wo
        note_id = await note(api, crew, wo, member, "bearing noisy at 3 kHz")
        mine = (await leader.until("MemberNoteAdded"))[-1]
        assert mine["data"]["note_id"] == note_id and not mine["redacted"]
        assert mine["data"]["findings"] == "bearing noisy at 3 kHz"
        for stream in (bystander, office):  # another member's note, and the office: a summary
            theirs = (await stream.until("MemberNoteAdded"))[-1]
            assert theirs["redacted"] and theirs["data"] == {
                "note_id": note_id, "author": member, "after_report": False
            }  # fmt: skip
    assert (await history(log, wo)).records[-1].event.name == "MemberNoteAdded"


async def test_a_dropped_stream_resumes_after_its_last_event_without_gaps_or_repeats(
    api: httpx.AsyncClient, crew: Crew
) -> None:
    wo = await issue(api, crew)
    path, lead = f"/work-orders/{wo}/events", crew.auth(crew.leader)
    async with opened(api, path, lead) as stream:
        issued = await stream.next()
        first = await note(api, crew, wo, crew.members[0], "first")
        got = (await stream.until("MemberNoteAdded"))[-1]
        assert got["data"]["note_id"] == first
        last_id = got["seq"]
    # the connection is gone; the crew goes on
    missed = [
        await note(api, crew, wo, who, f"while away {i}") for i, who in enumerate(crew.members)
    ]
    async with opened(api, path, {**lead, "Last-Event-ID": str(last_id)}) as resumed:
        again = [await resumed.next() for _ in missed]
        assert [e["data"]["note_id"] for e in again] == missed
        assert all(e["seq"] > last_id for e in again)
        assert [e["seq"] for e in again] == sorted({e["seq"] for e in again})
        live = await note(api, crew, wo, crew.leader, "after the resume")
        assert (await resumed.next())["data"]["note_id"] == live
        while resumed.heartbeats == 0:  # idle now: heartbeats keep the connection open
            try:
                await resumed.next(seconds=5)
            except TimeoutError:
                break
        assert resumed.heartbeats > 0
    assert issued["seq"] < last_id


async def test_the_office_feed_has_every_work_order_from_now_on(
    api: httpx.AsyncClient, crew: Crew
) -> None:
    async with opened(api, "/events", crew.auth(crew.dispatcher)) as feed:
        wo = await issue(api, crew)
        seen = await feed.until("WorkOrderIssued")
        while seen[-1]["work_order_id"] != wo:
            seen = await feed.until("WorkOrderIssued")
        r = await api.post(f"/work-orders/{wo}/start", headers=crew.auth(crew.leader))
        assert r.status_code == 200, r.text
        started = await feed.next()
        while started["work_order_id"] != wo:
            started = await feed.next()
        assert started["type"] == "WorkOrderStarted" and started["actor"] == crew.leader
    technician = await api.get("/events", headers=crew.auth(crew.leader))
    assert technician.status_code == 403
    stranger = await api.get(f"/work-orders/{wo}/events", headers=crew.auth(crew.outsider))
    assert stranger.status_code == 403
    unknown = await api.get(
        "/work-orders/00000000-0000-4000-8000-000000000000/events",
        headers=crew.auth(crew.dispatcher),
    )
    assert unknown.status_code == 404
    bad = await api.get(
        f"/work-orders/{wo}/events", headers={**crew.auth(crew.leader), "Last-Event-ID": "x"}
    )
    assert bad.status_code == 422


async def test_a_stream_ends_when_its_token_stops_being_accepted(
    api: httpx.AsyncClient, crew: Crew, token: TokenFactory
) -> None:
    wo = await issue(api, crew)
    # accepted for 8 s more: its exp is past, but within the verifiers' leeway
    ending = token(crew.dispatcher, "dispatcher", ttl_seconds=8 - LEEWAY_SECONDS)
    auth = {"Authorization": f"Bearer {ending}"}
    paths = [f"/work-orders/{wo}/events", "/events"]
    async with opened(api, paths[0], auth) as one, opened(api, paths[1], auth) as every:
        assert (await one.next())["type"] == "WorkOrderIssued"
        async with asyncio.timeout(30):
            for stream in (one, every):
                pings = [line async for line in stream.lines if line.startswith(":")]
                assert pings  # it stayed open (heartbeats every second here), then ended
    for path in paths:  # the same token once more: refused, so a client signs in again
        again = await api.get(path, headers=auth)
        assert again.status_code == 401, again.text


async def read_view(api: httpx.AsyncClient, crew: Crew, wo: str) -> dict[str, Any]:
    """The work order's view as its dispatcher reads it, asked again as a client does when
    told to wait: a 503 (a busy backend) or a 429 (too many requests), each with Retry-After."""
    while True:
        answer = await api.get(f"/work-orders/{wo}", headers=crew.auth(crew.dispatcher))
        if answer.status_code not in (429, 503):
            assert answer.status_code == 200, answer.text
            return dict(answer.json())
        assert "retry-after" in answer.headers, answer.text
        await asyncio.sleep(float(answer.headers["retry-after"]))


async def test_a_view_says_which_events_it_shows(api: httpx.AsyncClient, crew: Crew) -> None:
    wo = await issue(api, crew)
    async with opened(api, f"/work-orders/{wo}/events", crew.auth(crew.dispatcher)) as stream:
        issued = await stream.next()
        added = await note(api, crew, wo, crew.leader, "impeller chipped")
        got = (await stream.until("MemberNoteAdded"))[-1]
        assert got["data"]["note_id"] == added
    # a client that got event n reads the (projected) view until its seq reaches n
    async with asyncio.timeout(30):
        view = await read_view(api, crew, wo)
        assert view["seq"] >= issued["seq"]
        while view["seq"] < got["seq"]:
            await asyncio.sleep(0.1)  # the projection catches up on its own; not every ms
            view = await read_view(api, crew, wo)
    assert view["seq"] == got["seq"] and view["notes"] == 1
    listed = (await api.get("/work-orders", headers=crew.auth(crew.leader))).json()
    assert [w["seq"] for w in listed if w["id"] == wo] == [got["seq"]]
