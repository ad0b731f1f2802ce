"""Rebuilding the aggregator's projection from sequence 1 gives what the live one has."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fieldcrew_aggregator.projection import ServerReportProjection
from fieldcrew_cli.servers import Infra
from fieldcrew_cli.stack import Stack
from fieldcrew_shared.eventstore import EventStore
from fieldcrew_shared.rebuild import rebuild

from tests.e2e.conftest import Crew, ReportWatcher, issue
from tests.e2e.test_crew_flow import REPORT, play_notes_and_photos, upload
from tests.images import jpeg


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(infra.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


async def reports(pool: asyncpg.Pool, schema: str) -> dict[tuple[str, int], object]:
    rows = await pool.fetch(f"SELECT work_order_id, revision, report FROM {schema}.server_reports")
    return {(str(r["work_order_id"]), r["revision"]): json.loads(r["report"]) for r in rows}


async def completed_work_order(api: httpx.AsyncClient, crew: Crew, log: EventStore) -> str:
    wo = await issue(api, crew)
    async with ReportWatcher(log, wo) as watcher:
        await play_notes_and_photos(api, crew, wo)
        r = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=crew.auth(crew.leader))
        assert r.status_code == 201
        await watcher.revision(1)
        assert (await upload(api, crew, wo, crew.leader, jpeg(seed=31337))).status_code == 201
        await watcher.revision(2)
    return wo


async def test_rebuilt_reports_equal_the_live_ones(
    api: httpx.AsyncClient, crew: Crew, log: EventStore, pool: asyncpg.Pool
) -> None:
    wo = await completed_work_order(api, crew, log)
    live_schema = await pool.fetchval("SELECT live FROM aggregator_meta.heads")
    result = await rebuild(log, pool, ServerReportProjection(), switch=False)
    live, rebuilt = await reports(pool, live_schema), await reports(pool, result.schema)
    assert (wo, 2) in rebuilt
    # the live projection may have moved on while we compared: compare what both have
    assert {k: rebuilt[k] for k in live if k in rebuilt} == {
        k: live[k] for k in live if k in rebuilt
    }
    assert len(rebuilt) >= len(live) - 5
    await pool.execute(f"DROP SCHEMA {result.schema} CASCADE")


async def test_fieldcrew_rebuild_switches_the_live_service_over(
    api: httpx.AsyncClient, crew: Crew, log: EventStore, pool: asyncpg.Pool, stack: Stack
) -> None:
    wo = await completed_work_order(api, crew, log)
    before = await pool.fetchval("SELECT live FROM aggregator_meta.heads")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fieldcrew_cli",
        "rebuild",
        "aggregator",
        env={**os.environ, **stack.env},
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0
    after = await pool.fetchval("SELECT live FROM aggregator_meta.heads")
    assert after != before and after in stdout.decode()
    old, new = await reports(pool, before), await reports(pool, after)
    assert (wo, 2) in new
    assert all(new[key] == report for key, report in old.items())
    # the running aggregator serves from the new schema and keeps projecting into it
    r = await api.get(f"/work-orders/{wo}/server-report", headers=crew.auth(crew.dispatcher))
    assert r.status_code == 200 and r.json()["revision"] == 2
    async with ReportWatcher(log, wo) as watcher:
        assert (await upload(api, crew, wo, crew.members[2], jpeg(seed=4711))).status_code == 201
        await watcher.revision(3)
    r = await api.get(f"/work-orders/{wo}/server-report", headers=crew.auth(crew.dispatcher))
    assert r.json()["revision"] == 3
    assert (
        await pool.fetchval(
            f"SELECT max(revision) FROM {after}.server_reports WHERE work_order_id = $1::uuid", wo
        )
        == 3
    )
