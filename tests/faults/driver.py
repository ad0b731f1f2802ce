"""The crews: many work orders played at once through the gateway, as phones would.

Each work order: a dispatcher issues it; every crew member (leader too) adds a note and
uploads a photo (now and then the leader and a member both send the same bytes, which must
appear once, crediting both); once all of that is acknowledged the leader submits the report,
which therefore compiles exactly once. A command is retried with the same ``Idempotency-Key``
(and a photo with the same bytes) after a transport error, a 5xx, a 429 or a concurrency
conflict, with backoff, waiting at least what ``Retry-After`` says. Every 2xx goes in the
ledger; any other answer is a finding and the crew gives that work order up.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fieldcrew_shared.auth import Role

from tests.faults.ledger import Ack, Answer, Ledger, Order
from tests.faults.system import System
from tests.images import jpeg

RETRYABLE_CODES = {"concurrent_update"}
KEEPALIVE = 2.0  # below the gateway's 5 s keep-alive (README: Clients)


@dataclass(frozen=True)
class Plan:
    """How the crews play: how many at once, how long a command may take in all."""

    crews: int = 8
    crew_size: int = 4  # the leader and the members
    command_deadline: float = 180.0
    request_timeout: float = 30.0
    shared_photo_every: int = 7  # every n-th work order has a photo sent by two people
    backoff_first: float = 0.1
    backoff_max: float = 3.0


class Driver:
    """Plays work orders until ``enough()`` says so; fills ``ledger``."""

    def __init__(self, system: System, ledger: Ledger, plan: Plan, *, seed: int, tag: str):
        self.system, self.ledger, self.plan, self.tag = system, ledger, plan, tag
        self.seed = seed
        self.rng = random.Random(seed)  # backoff jitter only; crews depend on the number alone
        self.enough: Callable[[], bool] = lambda: True
        self.people = [f"{tag}-tech-{i:03d}" for i in range(plan.crews * plan.crew_size * 2)]
        self.dispatchers = [f"{tag}-dora-{i:02d}" for i in range(plan.crews)]
        self.tokens = {p: system.token(p) for p in self.people}
        self.tokens |= {d: system.token(d, Role.dispatcher) for d in self.dispatchers}
        self.photo = jpeg(1, (96, 72))
        self.numbers = itertools.count()
        self.started = 0

    async def run(self, enough: Callable[[], bool]) -> None:
        """``plan.crews`` crews play one work order after another until ``enough()``."""
        self.enough = enough
        await asyncio.gather(*(self._crew() for _ in range(self.plan.crews)))

    async def _crew(self) -> None:
        async with self.client() as http:
            while not self.enough():
                n = next(self.numbers)
                self.started = n + 1
                await self.play(http, n)

    async def play(self, http: httpx.AsyncClient, n: int) -> Order:
        """One whole work order."""
        order = self._order(n)
        self.ledger.orders[n] = order
        if not await self._issue(http, order):
            return order
        steps = [self._note(http, order, who) for who in order.crew]
        steps += [self._photo(http, order, who, self._bytes(n, who)) for who in order.crew]
        if n % self.plan.shared_photo_every == 0:
            shared = self._bytes(n, "shared")
            steps += [self._photo(http, order, who, shared) for who in order.crew[:2]]
        if not all(await asyncio.gather(*steps)):
            return order
        report = {"summary": f"Pump P-{n} repaired", "root_cause": "wear", "outcome": "resolved"}
        path = f"/work-orders/{order.id}/report"
        r = await self.command(http, "report", path, order.leader, f"{n}-report", order,
                               json=report)  # fmt: skip
        if r is not None:
            order.report = str(r.json()["id"])
        return order

    async def side_order(self, http: httpx.AsyncClient, n: int) -> None:
        """A work order issued and its leader's note, no more: commands that need neither
        PostgreSQL nor S3, acknowledged (in the ledger) while the crews wait on an outage.
        It is not one of ``ledger.orders``: it never gets a report."""
        order = self._order(n)
        if await self._issue(http, order):
            await self._note(http, order, order.leader)

    async def _issue(self, http: httpx.AsyncClient, order: Order) -> bool:
        n = order.index
        body = {"title": f"Pump P-{n} leaks", "site": "Plant 2", "asset": f"P-{n}",
                "crew": {"leader": order.leader, "members": order.members}}  # fmt: skip
        r = await self.command(http, "issue", "/work-orders", order.dispatcher, f"{n}-issue",
                               order, json=body)  # fmt: skip
        if r is not None:
            order.id = str(r.json()["id"])
        return r is not None

    def client(self) -> httpx.AsyncClient:
        """A phone's connections to the gateway."""
        limits = httpx.Limits(max_connections=self.plan.crew_size + 1, keepalive_expiry=KEEPALIVE)
        timeout = httpx.Timeout(self.plan.request_timeout, connect=5.0)
        base = f"{self.system.gateway}/api/v1"
        return httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout)

    def _order(self, n: int) -> Order:
        crew = random.Random(self.seed * 1_000_003 + n).sample(self.people, self.plan.crew_size)
        dispatcher = self.dispatchers[n % len(self.dispatchers)]
        return Order(n, dispatcher, crew[0], crew[1:])

    def _bytes(self, n: int, who: str) -> bytes:
        """The same photo for the same (work order, person), other bytes for any other: a
        JPEG comment segment naming them."""
        tag = f"fieldcrew-faults {self.tag} {n} {who}".encode()
        return self.photo[:2] + b"\xff\xfe" + struct.pack(">H", len(tag) + 2) + tag + self.photo[2:]

    async def _note(self, http: httpx.AsyncClient, order: Order, who: str) -> bool:
        note = {"findings": f"seal worn ({who})", "actions": "replaced the seal",
                "parts": [{"part_no": "SEAL-40", "qty": 1}], "labour_minutes": 30}  # fmt: skip
        path = f"/work-orders/{order.id}/notes"
        r = await self.command(http, "note", path, who, f"{order.index}-note-{who}", order,
                               json=note)  # fmt: skip
        if r is not None:
            order.notes[str(r.json()["id"])] = who
        return r is not None

    async def _photo(self, http: httpx.AsyncClient, order: Order, who: str, data: bytes) -> bool:
        path = f"/work-orders/{order.id}/photos"
        sha = hashlib.sha256(data).hexdigest()
        r = await self.command(http, "photo", path, who, f"{order.index}-photo-{who}-{sha[:8]}",
                               order, files={"file": ("p.jpg", data, "image/jpeg")},
                               data={"phase": "after"})  # fmt: skip
        if r is not None:
            if r.json()["sha256"] != sha:
                self.ledger.unexpected.append(f"photo of {order.id}: another sha256 came back")
                return False
            order.photos.setdefault(sha, set()).add(who)
        return r is not None

    async def command(
        self, http: httpx.AsyncClient, kind: str, path: str, who: str, key: str, order: Order,
        **body: Any,
    ) -> httpx.Response | None:  # fmt: skip
        """Send until a 2xx (recorded in the ledger) or an answer no retry mends (None)."""
        headers = {"Authorization": f"Bearer {self.tokens[who]}",
                   "Idempotency-Key": f"{self.tag}-{key}"}  # fmt: skip
        sent = time.monotonic()
        backoff = self.plan.backoff_first
        for attempt in itertools.count(1):
            r, wait = await self._attempt(http, kind, path, headers, body)
            if r is not None and r.is_success:
                entity = r.json().get("sha256") if kind == "photo" else r.json()["id"]
                wo = order.id or str(r.json()["id"])
                self.ledger.ack(Ack(kind, wo, who, str(entity), r.status_code, attempt, sent,
                                    time.monotonic()))  # fmt: skip
                return r
            if r is not None and wait is None:
                order.failed = f"{kind}: {r.status_code} {r.text[:200]}"
                self.ledger.unexpected.append(f"{kind} {path}: {r.status_code} {r.text[:300]}")
                return None
            if time.monotonic() - sent > self.plan.command_deadline:
                order.failed = f"{kind}: not acknowledged in {self.plan.command_deadline} s"
                self.ledger.unexpected.append(f"{kind} {path}: {order.failed}")
                return None
            jitter = self.rng.uniform(0.5, 1.0)
            await asyncio.sleep(max(backoff * jitter, wait or 0.0))
            backoff = min(backoff * 2, self.plan.backoff_max)
        raise AssertionError("unreachable")

    async def _attempt(
        self, http: httpx.AsyncClient, kind: str, path: str, headers: dict[str, str],
        body: dict[str, Any],
    ) -> tuple[httpx.Response | None, float | None]:  # fmt: skip
        """One try: the answer, and how long to wait before the next try (None: do not)."""
        began = time.monotonic()
        try:
            r = await http.post(path, headers=headers, **body)
        except httpx.TransportError as exc:
            now = time.monotonic()
            self.ledger.answer(Answer(kind, 0, now - began, now, error=type(exc).__name__))
            return None, 0.0
        now = time.monotonic()
        retry_after = r.headers.get("retry-after")
        self.ledger.answer(Answer(kind, r.status_code, now - began, now, retry_after))
        if r.is_success:
            return r, None
        if r.status_code >= 500 or r.status_code == 429 or _code(r) in RETRYABLE_CODES:
            return r, float(retry_after) if retry_after and retry_after.isdigit() else 0.0
        return r, None


def _code(r: httpx.Response) -> str:
    try:
        return str(r.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""
