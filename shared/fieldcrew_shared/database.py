"""PostgreSQL calls that end in bounded time (docs/adr/0027).

asyncpg's pool methods wait for a free connection with no limit, and a statement's own
timeout does not bound giving its connection back afterwards (the cancel request sent to a
hung server waits too): a request to a paused PostgreSQL hung for good. :class:`BoundedPool`
answers every call within one deadline, connection taken and statement run (giving the
connection back is left to finish on its own), and turns PostgreSQL being down, hung or
refusing connections into :class:`BackendUnavailableError` (a 503 with ``Retry-After``).
Errors that say the query itself is wrong are left alone: they are bugs, not outages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from fieldcrew_shared.errors import BackendUnavailableError

T = TypeVar("T")

# PostgreSQL unreachable, gone, shutting down, out of connections, or too slow
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
)


class BoundedPool:
    """An asyncpg pool's ``fetch``/``fetchrow``/``fetchval``/``execute``, each call done
    within ``seconds`` or failed with :class:`BackendUnavailableError`."""

    def __init__(self, pool: asyncpg.Pool, seconds: float) -> None:
        self.pool = pool
        self.seconds = seconds

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._run(lambda conn: conn.fetch(query, *args))
        return rows

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._run(lambda conn: conn.fetchrow(query, *args))
        return row

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._run(lambda conn: conn.fetchval(query, *args))

    async def execute(self, query: str, *args: Any) -> str:
        status: str = await self._run(lambda conn: conn.execute(query, *args))
        return status

    async def _run(self, statement: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """``statement`` on a pooled connection. The caller waits ``seconds`` at most: a
        call still running then is cancelled and left to finish giving its connection back
        on its own (to a hung server, that takes asyncpg's own time again)."""

        async def call() -> T:
            async with self.pool.acquire(timeout=self.seconds) as conn:
                return await statement(conn)

        running = asyncio.ensure_future(call())
        try:
            done, _ = await asyncio.wait([running], timeout=self.seconds)
        finally:
            if not running.done():
                running.cancel()
                running.add_done_callback(_consume)
        if not done:
            raise BackendUnavailableError(f"PostgreSQL did not answer in {self.seconds:g} s")
        try:
            return running.result()
        except UNAVAILABLE as exc:
            raise BackendUnavailableError(
                f"PostgreSQL did not answer ({type(exc).__name__})"
            ) from exc


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned call's outcome (nobody waits for it any more)."""
    if not task.cancelled():
        task.exception()


async def postgres_ready(pool: asyncpg.Pool, seconds: float) -> dict[str, int]:
    """Readiness: a pooled connection answers a statement."""
    await BoundedPool(pool, seconds).fetchval("SELECT 1")
    return {"pool_size": pool.get_size(), "pool_idle": pool.get_idle_size()}
