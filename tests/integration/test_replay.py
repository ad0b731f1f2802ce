"""``fieldcrew replay``: an analyst's projection (the example, labour minutes per technician
per week) run from the log into its own schema, once and following the live log, exactly once,
poison dead-lettered; and the command itself. Against the session's NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from fieldcrew_cli.replay import ReplayError, check_schema, load_projection, replay
from fieldcrew_cli.servers import Infra
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.eventstore import EventStore, connect

from examples.labour import LabourMinutesPerWeek, week_of
from tests.cli import fieldcrew
from tests.unit.factories import issued, note

ROOT = Path(__file__).parents[2]
MONDAY, NEXT_MONDAY = date(2026, 11, 2), date(2026, 11, 9)


@pytest.fixture
async def team(infra: Infra) -> AsyncIterator[EventStore]:
    nc = await connect(infra.nats_url, name="test-replay")
    yield EventStore(nc, source="fieldcrew/team")
    await nc.drain()


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(infra.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


async def add_note(team: EventStore, who: str, minutes: int, on: datetime) -> int:
    meta = Metadata(actor=who, actorrole="technician", correlationid="c", occurred_at=on)
    return (await team.append(note(uuid4(), who, minutes=minutes), meta)).seq


async def labour(pool: asyncpg.Pool, schema: str, who: str) -> dict[date, tuple[int, int]]:
    rows = await pool.fetch(
        f"SELECT week, minutes, notes FROM {schema}.labour_minutes WHERE technician = $1", who
    )
    return {r["week"]: (r["minutes"], r["notes"]) for r in rows}


async def position(pool: asyncpg.Pool, schema: str) -> int:
    """The replay's stored position (0 while its schema is not made yet)."""
    try:
        return int(await pool.fetchval(f"SELECT position FROM {schema}.checkpoint"))
    except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
        return 0


def schema_name() -> str:
    return f"labour_{uuid4().hex[:10]}"


def test_a_week_starts_on_monday_in_utc() -> None:
    assert week_of(datetime(2026, 11, 8, 23, 30, tzinfo=UTC)) == MONDAY  # Sunday
    assert week_of(datetime(2026, 11, 9, 0, 30, tzinfo=UTC)) == NEXT_MONDAY


async def test_a_replay_applies_the_log_once_and_goes_on_from_its_position(
    team: EventStore, pool: asyncpg.Pool
) -> None:
    who, schema = f"max-{uuid4().hex[:6]}", schema_name()
    mine = [
        await add_note(team, who, 30, datetime(2026, 11, 3, 9, tzinfo=UTC)),
        await add_note(team, who, 45, datetime(2026, 11, 6, 16, tzinfo=UTC)),
        await add_note(team, who, 20, datetime(2026, 11, 10, 8, tzinfo=UTC)),
    ]
    first = await replay(team, pool, LabourMinutesPerWeek(), schema)
    assert await labour(pool, schema, who) == {MONDAY: (75, 2), NEXT_MONDAY: (20, 1)}
    assert first.position >= mine[-1]
    # the whole log so far: other tests' poison events are dead-lettered, none of these
    dead = f"SELECT count(*) FROM {schema}.dead_letters WHERE seq = ANY($1::bigint[])"
    assert await pool.fetchval(dead, mine) == 0

    # again: on from its position (other tests' services may have added events meanwhile)
    again = await replay(team, pool, LabourMinutesPerWeek(), schema)
    assert again.position >= first.position
    assert await labour(pool, schema, who) == {MONDAY: (75, 2), NEXT_MONDAY: (20, 1)}

    await add_note(team, who, 5, datetime(2026, 11, 11, 8, tzinfo=UTC))
    await replay(team, pool, LabourMinutesPerWeek(), schema)
    assert await labour(pool, schema, who) == {MONDAY: (75, 2), NEXT_MONDAY: (25, 2)}


async def test_a_poison_event_is_dead_lettered_and_the_rest_applied(
    team: EventStore, pool: asyncpg.Pool
) -> None:
    who, schema = f"ida-{uuid4().hex[:6]}", schema_name()
    await add_note(team, who, 10, datetime(2026, 11, 3, tzinfo=UTC))
    bad = await add_note(team, who, -5, datetime(2026, 11, 3, tzinfo=UTC))
    await add_note(team, who, 7, datetime(2026, 11, 4, tzinfo=UTC))
    result = await replay(team, pool, LabourMinutesPerWeek(), schema)
    assert await labour(pool, schema, who) == {MONDAY: (17, 2)}
    reason = await pool.fetchval(f"SELECT reason FROM {schema}.dead_letters WHERE seq = $1", bad)
    assert "negative labour minutes" in reason and result.dead_letters >= 1


async def test_following_applies_new_events_as_they_are_recorded(
    team: EventStore, pool: asyncpg.Pool
) -> None:
    who, schema = f"tom-{uuid4().hex[:6]}", schema_name()
    stop, positions = asyncio.Event(), asyncio.Queue[int]()
    following = asyncio.create_task(
        replay(
            team, pool, LabourMinutesPerWeek(), schema,
            follow=True, stop=stop, reached=positions.put_nowait,
        )
    )  # fmt: skip
    try:
        seq = await add_note(team, who, 12, datetime(2026, 11, 5, tzinfo=UTC))
        async with asyncio.timeout(30):  # until the follower has applied it
            while await positions.get() < seq:
                pass
        assert await position(pool, schema) >= seq
        assert await labour(pool, schema, who) == {MONDAY: (12, 1)}
    finally:
        stop.set()
        result = await asyncio.wait_for(following, 30)
    assert result.position >= seq


def test_a_projection_is_named_module_colon_class_and_checked() -> None:
    assert isinstance(
        load_projection("examples.labour:LabourMinutesPerWeek", ROOT), LabourMinutesPerWeek
    )
    for spec, why in [
        ("examples.labour", "package.module:Name"),
        ("examples.nothing:X", "cannot be loaded"),
        ("examples.labour:week_of", "is not a projection"),
    ]:
        with pytest.raises(ReplayError, match=why):
            load_projection(spec, ROOT)
    for name in ("aggregator", "aggregator_r1", "public", "Labour", "a-b", "webhooks"):
        with pytest.raises(ReplayError):
            check_schema(name)


async def test_the_replay_command(
    infra: Infra, team: EventStore, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    who, schema = f"eve-{uuid4().hex[:6]}", schema_name()
    await team.append(
        issued(uuid4()), Metadata(actor="d", actorrole="dispatcher", correlationid="c")
    )
    await add_note(team, who, 33, datetime(2026, 11, 4, tzinfo=UTC))
    env = {"FIELDCREW_DATABASE_URL": infra.database_url}
    spec = "examples.labour:LabourMinutesPerWeek"
    args = ("replay", "--projection", spec, "--schema", schema)
    done = await fieldcrew(infra.nats_url, tmp_path, *args, cwd=ROOT, **env)
    assert done.returncode == 0, done.stderr
    assert f"schema {schema} holds the log up to sequence" in done.stdout
    assert await labour(pool, schema, who) == {MONDAY: (33, 1)}
    args = ("replay", "--projection", "nope:X", "--schema", schema)
    bad = await fieldcrew(infra.nats_url, tmp_path, *args, cwd=ROOT, **env)
    assert bad.returncode == 2 and "cannot be loaded" in bad.stderr
