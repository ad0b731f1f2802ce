"""``fieldcrew replay``: an analyst's own projection, fed from the log into a schema of its own.

The projection is any class with the contract of ours (``fieldcrew_shared.projection.Projection``:
``name``, ``ddl(schema)``, ``async apply(conn, schema, records)``), named ``module:Class`` and
imported from the current folder or the installed packages. It runs on the same
``ProjectionRunner`` as fieldcrew's own projections: each batch is applied and the position it
reached stored in one transaction, so a replay stopped anywhere and started again applies
nothing twice; an event it cannot apply (its ``apply`` raises ``ValueError``) is written to
``<schema>.dead_letters`` with the reason and the replay goes on. Once, it replays the log
up to its current end; with ``follow`` it then keeps applying new events as they are recorded.
See docs/projections.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import asyncpg
from fieldcrew_shared.eventstore import EventStore
from fieldcrew_shared.projection import Projection, ProjectionRunner, create_schema

log = logging.getLogger(__name__)

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# fieldcrew's own schemas (live, rebuilds, bookkeeping) and PostgreSQL's
RESERVED = ("aggregator", "webhooks", "pg_", "public", "information_schema")
FOLLOW_POLL = 0.5  # seconds between looks at the log's end while following


class ReplayError(Exception):
    """A replay that cannot start as asked (nothing was written)."""


@dataclass(frozen=True)
class ReplayResult:
    schema: str
    position: int  # the last sequence applied
    dead_letters: int


def load_projection(spec: str, search: Path | None = None) -> Projection:
    """The projection ``module:Name`` names: an instance of class ``Name`` (made with no
    arguments), or the object itself when it is not a class. ReplayError says what is wrong."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ReplayError(f"--projection {spec!r}: write it as package.module:Name")
    folder = str((search or Path.cwd()).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)  # as `python -m` does: the analyst's own modules
    try:
        found: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ReplayError(f"--projection {spec!r} cannot be loaded: {exc}") from exc
    projection: Any = found() if inspect.isclass(found) else found
    missing = [a for a in ("name", "ddl", "apply") if not hasattr(projection, a)]
    if missing or not inspect.iscoroutinefunction(projection.apply):
        lacking = ", ".join(missing) or "async apply"
        raise ReplayError(
            f"{spec} is not a projection: it needs `name`, `ddl(schema)` and"
            f" `async apply(conn, schema, records)` (it has no {lacking})"
        )
    return cast(Projection, projection)


def check_schema(name: str) -> str:
    """``name`` when it may be the replay's schema; ReplayError otherwise."""
    if not SCHEMA_NAME.match(name):
        raise ReplayError(
            f"--schema {name!r}: lower-case letters, digits and _, starting with a letter or _"
        )
    if name.startswith(RESERVED):
        raise ReplayError(f"--schema {name!r} is fieldcrew's or PostgreSQL's; choose another")
    return name


async def replay(
    store: EventStore,
    pool: asyncpg.Pool,
    projection: Projection,
    schema: str,
    *,
    follow: bool = False,
    stop: asyncio.Event | None = None,
    reached: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Apply the log from after the schema's stored position to its end (creating the schema
    and its tables first); with ``follow``, go on until ``stop`` is set. ``reached`` is told
    the position after each round."""
    stop = stop or asyncio.Event()
    runner = ProjectionRunner(store, pool, projection)
    async with pool.acquire() as conn:
        await create_schema(conn, projection, schema)
    position = await pool.fetchval(f"SELECT position FROM {schema}.checkpoint")
    while True:
        position = max(position, await runner.replay(schema, position + 1))
        if reached is not None:
            reached(position)
        if not follow or stop.is_set():
            break
        await _next_events(store, position, stop)
    dead = await pool.fetchval(f"SELECT count(*) FROM {schema}.dead_letters")
    return ReplayResult(schema, position, dead)


async def _next_events(store: EventStore, position: int, stop: asyncio.Event) -> None:
    """Return once the log holds an event after ``position``, or ``stop`` is set."""
    while not stop.is_set() and await store.last_sequence() <= position:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), FOLLOW_POLL)
