"""The webhook sender: works off the deliveries the projection owes.

Each round claims due deliveries (a lease in PostgreSQL, so that two aggregators never send
the same one at once), sends them together, and records each attempt with its outcome in one
transaction: delivered (a 2xx), failed and due again after the backoff, or dead-lettered after
the last attempt. A request is signed per Standard Webhooks: ``webhook-id`` is the event id,
so a receiver that keeps the ids it has seen takes each event once per subscription, however
often it is sent (a retry after a timeout, a crash between sending and recording). The body is
the event as the log holds it: one CloudEvents JSON document.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from fieldcrew_shared.errors import FieldcrewError
from standardwebhooks import Webhook

from fieldcrew_aggregator.webhooks.addresses import AddressPolicy
from fieldcrew_aggregator.webhooks.domain import Retry
from fieldcrew_aggregator.webhooks.sealing import Sealer

log = logging.getLogger(__name__)

CLAIM = """
WITH due AS (
    SELECT webhook_id, event_id FROM {s}.deliveries
    WHERE status = 'pending' AND next_attempt_at <= now()
      AND (leased_until IS NULL OR leased_until < now())
    ORDER BY next_attempt_at, seq LIMIT $1 FOR UPDATE SKIP LOCKED)
UPDATE {s}.deliveries d SET leased_until = now() + make_interval(secs => $2)
FROM due, {s}.subscriptions s
WHERE d.webhook_id = due.webhook_id AND d.event_id = due.event_id
  AND s.webhook_id = d.webhook_id
RETURNING d.webhook_id, d.event_id, d.body, d.attempts, s.sealed
"""
RECORD = """
INSERT INTO {s}.attempts VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING
"""
OUTCOME = """
UPDATE {s}.deliveries SET status = $3, attempts = $4, next_attempt_at = $5,
    leased_until = NULL, delivered_at = CASE WHEN $3 = 'delivered' THEN now() END
WHERE webhook_id = $1 AND event_id = $2
"""
NEXT_DUE = "SELECT min(next_attempt_at) FROM {s}.deliveries WHERE status = 'pending'"


@dataclass(frozen=True)
class Attempt:
    """How one try went."""

    at: datetime
    seconds: float
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Sender:
    """Sends what the webhook projection owes, until :meth:`close`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: Callable[[], str],
        sealer: Sealer,
        policy: AddressPolicy,
        *,
        retry: Retry,
        timeout: float,
        concurrency: int = 8,
        idle: float = 1.0,
    ) -> None:
        self.pool, self._schema, self.sealer, self.policy = pool, schema, sealer, policy
        self.retry, self.timeout, self.concurrency, self.idle = retry, timeout, concurrency, idle
        self._due = asyncio.Event()
        self._closing = False

    @property
    def schema(self) -> str:
        """The live schema of the webhook projection (a rebuild may switch it)."""
        return self._schema()

    def wake(self) -> None:
        """Look for due deliveries now (the projection owed new ones)."""
        self._due.set()

    def close(self) -> None:
        self._closing = True
        self._due.set()

    async def run(self) -> None:
        """Send rounds until closed; between rounds, wait to be woken or for the next due
        delivery (``idle`` seconds at most). A failure propagates to the supervisor."""
        # no redirects followed (a 3xx is a failure), no proxy or credentials from the
        # environment: a webhook goes where it was registered to go, and nowhere else
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            while not self._closing:
                sent = await self.round(client)
                if sent == 0 and not self._closing:
                    await self._wait()

    async def round(self, client: httpx.AsyncClient) -> int:
        """Claim the due deliveries (up to ``concurrency``), send them together, record how
        each went; how many were claimed."""
        lease = self.timeout + 30.0
        claimed = await self.pool.fetch(CLAIM.format(s=self.schema), self.concurrency, lease)
        await asyncio.gather(*(self._deliver(client, row) for row in claimed))
        return len(claimed)

    async def _wait(self) -> None:
        self._due.clear()
        due = await self.pool.fetchval(NEXT_DUE.format(s=self.schema))
        wait = self.idle
        if due is not None:
            wait = min(wait, max(0.0, (due - datetime.now(UTC)).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._due.wait(), wait)

    async def _deliver(self, client: httpx.AsyncClient, row: asyncpg.Record) -> None:
        attempt = await self._send(client, row)
        number = row["attempts"] + 1
        delay = None if attempt.delivered else self.retry.delay(number)
        status = "delivered" if attempt.delivered else ("dead" if delay is None else "pending")
        due = attempt.at + timedelta(seconds=delay or 0)
        outcome = "delivered" if attempt.delivered else ("dead" if delay is None else "failed")
        wid, eid = row["webhook_id"], row["event_id"]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                RECORD.format(s=self.schema), wid, eid, number, attempt.at, attempt.seconds,
                attempt.status_code, attempt.error, outcome,
            )  # fmt: skip
            await conn.execute(OUTCOME.format(s=self.schema), wid, eid, status, number, due)
        if outcome != "delivered":
            log.warning(
                "webhook delivery failed",
                extra={"webhook": str(wid), "event": eid, "attempt": number, "outcome": outcome,
                       "status": attempt.status_code, "why": attempt.error},
            )  # fmt: skip

    async def _send(self, client: httpx.AsyncClient, row: asyncpg.Record) -> Attempt:
        """One signed POST of the event; what came of it (never raises for the receiver's
        failures: a refused address, an error status, a timeout are an attempt's outcome)."""
        at, started = datetime.now(UTC), time.perf_counter()
        body: bytes = row["body"]
        try:
            opened = self.sealer.open(row["sealed"])
            target = await self.policy.target(opened.url)
            headers = _signed(opened.secret, row["event_id"], at, body) | target.headers
            answer = await client.post(
                target.url, content=body, headers=headers, timeout=self.timeout,
                extensions=target.extensions,
            )  # fmt: skip
        except FieldcrewError as exc:
            return Attempt(at, time.perf_counter() - started, None, exc.message)
        except httpx.HTTPError as exc:
            why = f"{type(exc).__name__}: {exc}".rstrip(": ")
            return Attempt(at, time.perf_counter() - started, None, why)
        error = None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"
        return Attempt(at, time.perf_counter() - started, answer.status_code, error)


def _signed(secret: str, event_id: str, at: datetime, body: bytes) -> dict[str, Any]:
    """Standard Webhooks' headers for ``body``, signed with ``secret``."""
    signature = Webhook(secret).sign(event_id, at, body)
    return {
        "content-type": "application/cloudevents+json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "user-agent": "fieldcrew-webhooks/1",
    }
