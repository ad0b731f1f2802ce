"""3. The crew flow end to end: concurrent mobile clients (httpx) play whole work orders
through the gateway: issue, 4 notes, the leader's report, 4 photos of ~50 KB by 4 people.

A work order counts as completed when its ``ServerReportCompiled`` reached the log (the
aggregator announces a revision only after committing it, so the report is readable then);
every report is then read through the gateway once more, outside the timing, to check it."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from fieldcrew_shared.auth import Role
from fieldcrew_shared.eventstore import connect
from nats.aio.msg import Msg

from bench.env import KEEPALIVE, BenchEnv
from bench.workload import jpeg, variant

NOTE = {
    "findings": "shaft seal worn",
    "actions": "replaced the seal",
    "parts": [{"part_no": "SEAL-40", "qty": 1}, {"part_no": "BOLT-M8", "qty": 2}],
    "labour_minutes": 45,
}
REPORT = {"summary": "Seal replaced, pump tested", "root_cause": "wear", "outcome": "resolved"}
CALLS = ("issue", "note", "report", "photo")


@dataclass
class Flow:
    """What one run of many clients saw (times are ``time.perf_counter()`` seconds)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    last_upload: dict[str, float] = field(default_factory=dict)
    reported: dict[str, float] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0
    both: int = 0
    started: float = 0.0
    ended: float = 0.0

    def on_report(self, wo: str, at: float) -> None:
        if wo not in self.reported:
            self.reported[wo] = at
            self.both += wo in self.last_upload
            self.check()

    def uploaded(self, wo: str, at: float) -> None:
        self.last_upload[wo] = at
        self.both += wo in self.reported
        self.check()

    def check(self) -> None:
        if self.expected and self.both >= self.expected:
            self.arrived.set()

    def times_to_report(self) -> list[float]:
        """Last upload's response to the report announced; 0 when it came first."""
        return [max(0.0, self.reported[w] - t) for w, t in self.last_upload.items()
                if w in self.reported]  # fmt: skip


class Clients:
    """Tokens for a dispatcher and a pool of technicians, and the photo bytes they send."""

    def __init__(self, env: BenchEnv, people: int = 400, dispatchers: int = 64) -> None:
        # many people: the gateway limits each user's request rate, as it should
        self.dispatchers = [env.token(f"bench-dora-{i:02d}", Role.dispatcher)
                            for i in range(dispatchers)]  # fmt: skip
        self.people = [f"bench-tech-{i:03d}" for i in range(people)]
        self.tokens = {p: env.token(p) for p in self.people}
        self.photo = jpeg((400, 300), 80)
        self.counter = itertools.count()

    def auth(self, who: str, n: int = 0) -> dict[str, str]:
        """``who``'s bearer header; ``"dispatcher"`` is the ``n``-th dispatcher."""
        if who == "dispatcher":
            token = self.dispatchers[n % len(self.dispatchers)]
        else:
            token = self.tokens[who]
        return {"Authorization": f"Bearer {token}"}

    def crew(self, n: int) -> list[str]:
        start = (n * 4) % len(self.people)
        return [self.people[(start + i) % len(self.people)] for i in range(4)]


async def _call(
    flow: Flow, kind: str, expect: int, send: Any, *args: Any, **kwargs: Any
) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response: httpx.Response = await send(*args, **kwargs)
    except httpx.HTTPError as exc:
        flow.errors.append(f"{kind}: {type(exc).__name__} {exc}")
        return None
    flow.latencies[kind].append(time.perf_counter() - started)
    if response.status_code != expect:
        flow.errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
        return None
    return response


async def play(api: httpx.AsyncClient, clients: Clients, flow: Flow, n: int) -> None:
    """One whole work order, as its dispatcher and crew would play it."""
    crew = clients.crew(n)
    body = {"title": "Pump P-104 leaks", "site": "Plant 2", "asset": "P-104",
            "crew": {"leader": crew[0], "members": crew[1:]}}  # fmt: skip
    r = await _call(flow, "issue", 201, api.post, "/work-orders", json=body,
                    headers=clients.auth("dispatcher", n))  # fmt: skip
    if r is None:
        return
    path = f"/work-orders/{r.json()['id']}"
    notes = [_call(flow, "note", 201, api.post, f"{path}/notes", json=NOTE,
                   headers=clients.auth(who)) for who in crew]  # fmt: skip
    if None in await asyncio.gather(*notes):
        return
    if await _call(flow, "report", 201, api.post, f"{path}/report", json=REPORT,
                   headers=clients.auth(crew[0])) is None:  # fmt: skip
        return
    await _photos(api, clients, flow, path, crew)


async def _photos(
    api: httpx.AsyncClient, clients: Clients, flow: Flow, path: str, crew: list[str]
) -> None:
    uploads = []
    for who in crew:
        files = {"file": ("p.jpg", variant(clients.photo, next(clients.counter)), "image/jpeg")}
        uploads.append(_call(flow, "photo", 201, api.post, f"{path}/photos", files=files,
                             data={"phase": "after"}, headers=clients.auth(who)))  # fmt: skip
    if None not in await asyncio.gather(*uploads):
        flow.uploaded(path.rsplit("/", 1)[1], time.perf_counter())


async def run_clients(env: BenchEnv, clients: Clients, crews: int, orders: int) -> Flow:
    """``crews`` clients play ``orders`` work orders in all; returns once every report is in
    (or 60 s after the last upload)."""
    flow = Flow()
    nc = await connect(env.infra.nats_url, name="bench-reports")

    async def on_msg(msg: Msg) -> None:
        flow.on_report(msg.subject.split(".")[2], time.perf_counter())

    sub = await nc.subscribe("fieldcrew.aggregator.*.ServerReportCompiled", cb=on_msg)
    numbers = iter(range(orders))

    def device() -> httpx.AsyncClient:
        # One client per simulated crew, as each crew's phones have their own connections: a
        # shared pool of crews * 4 connections spent ~40% of the load generator's CPU
        # scanning its connections on every request (httpcore; py-spy, issue 4).
        limits = httpx.Limits(
            max_connections=4, max_keepalive_connections=4, keepalive_expiry=KEEPALIVE
        )
        return httpx.AsyncClient(base_url=f"{env.gateway}/api/v1", timeout=60, limits=limits)

    async def client() -> None:
        async with device() as api:
            for n in numbers:
                await play(api, clients, flow, n)

    try:
        flow.started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(crews)))
        flow.expected = len(flow.last_upload)
        flow.check()
        try:
            async with asyncio.timeout(60):
                await flow.arrived.wait() if flow.expected else None
        except TimeoutError:
            flow.errors.append("timed out waiting for server reports")
        done = [flow.reported[w] for w in flow.last_upload if w in flow.reported]
        flow.ended = max(done, default=flow.started)
        async with device() as api:
            await verify(api, clients, flow)
    finally:
        await sub.unsubscribe()
        await nc.drain()
    return flow


async def verify(api: httpx.AsyncClient, clients: Clients, flow: Flow) -> None:
    """Read every compiled report through the gateway: 200, four photos, nothing missing."""
    for i, wo in enumerate(flow.last_upload):
        if wo not in flow.reported:
            flow.errors.append(f"no server report for {wo}")
            continue
        r = await api.get(f"/work-orders/{wo}/server-report", headers=clients.auth("dispatcher", i))
        report = r.json() if r.status_code == 200 else {}
        if len(report.get("photos", [])) != 4 or report.get("missing") != []:
            flow.errors.append(f"report of {wo}: {r.status_code} {json.dumps(report)[:200]}")
