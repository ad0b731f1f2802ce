"""Every query of docs/analytics.md, taken from the page itself, run by DuckDB on an export of
a known stretch of the log, and its answer checked against what was played. The pandas
snippet too."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from statistics import median
from typing import Any
from uuid import UUID, uuid4

import duckdb
import pandas as pd
import pytest
from fieldcrew_cli.export import ExportRequest, export
from fieldcrew_cli.servers import Infra
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.events import Event, LeaderReportRejected, ServerReportCompiled
from fieldcrew_shared.eventstore import EventStore, connect

from tests.unit.factories import issued, note, photo, report

GUIDE = Path(__file__).parents[2] / "docs" / "analytics.md"
QUERY = re.compile(r"<!-- query: (\w+) -->\s*```sql\n(.*?)```", re.DOTALL)


def queries() -> dict[str, str]:
    return dict(QUERY.findall(GUIDE.read_text()))


@pytest.fixture
async def admin(infra: Infra) -> AsyncIterator[EventStore]:
    nc = await connect(infra.nats_url, name="test-analytics")
    yield EventStore(nc, source="fieldcrew/admin")
    await nc.drain()


class Played:
    """Events appended as their services would, and when each was recorded."""

    def __init__(self, admin: EventStore) -> None:
        self.admin = admin
        self.recorded: dict[tuple[UUID, str], list[Any]] = {}
        self.first_seq = 0

    async def __call__(self, event: Event) -> None:
        meta = Metadata(actor="someone", actorrole="technician", correlationid="c-analytics")
        store = EventStore(self.admin.nc, source=f"fieldcrew/{event.context}")
        done = await store.append(event, meta)
        self.first_seq = self.first_seq or done.seq
        key = (event.work_order_id, event.name)
        self.recorded.setdefault(key, []).append(done.envelope.recordedat)

    def minutes(self, wo: UUID) -> float:
        start = self.recorded[(wo, "WorkOrderIssued")][0]
        end = min(self.recorded[(wo, "ServerReportCompiled")])
        return (end - start).total_seconds() / 60


def rejected(wo: UUID, version: int) -> LeaderReportRejected:
    return LeaderReportRejected(
        work_order_id=wo, report_id=uuid4(), report_version=version, reason="photos blurred",
        rejected_by="dora",
    )  # fmt: skip


def compiled(wo: UUID, revision: int) -> ServerReportCompiled:
    return ServerReportCompiled(work_order_id=wo, revision=revision, report={"revision": revision})


async def play_known_log(play: Played, tag: str) -> dict[str, Any]:
    """Three work orders: two by one crew (members listed in another order), one by another
    crew that has no server report yet."""
    lena, max_, ida, tom = (f"{n}-{tag}" for n in ("lena", "max", "ida", "tom"))
    wo1, wo2, wo3 = uuid4(), uuid4(), uuid4()
    await play(issued(wo1, leader=lena, members=(max_, ida)))
    await play(issued(wo2, leader=lena, members=(ida, max_)))
    await play(issued(wo3, leader=tom, members=()))
    n1 = note(wo1, lena, (("SEAL-40", 1),))
    n2 = note(wo1, max_, (("SEAL-40", 1), ("BOLT-M8", 8)))
    n3 = note(wo2, ida, (("SEAL-40", 1),))
    for n in (n1, n2, n3):
        await play(n)
    r1 = report(wo1, lena, (n1.note_id, n2.note_id))
    r1 = r1.model_copy(update={"parts": (*n2.parts[1:], n2.parts[0].model_copy(update={"qty": 2}))})
    await play(r1)
    await play(report(wo2, lena, (n3.note_id,)).model_copy(update={"parts": n3.parts}))
    await play(report(wo3, tom, ()))
    await play(photo(wo1, lena, "a1" * 32, role="leader"))
    await play(photo(wo1, max_, "b1" * 32))
    await play(photo(wo1, ida, "b1" * 32))  # the same image as max's
    await play(photo(wo1, ida, "c1" * 32))
    await play(photo(wo2, lena, "a2" * 32, role="leader"))
    await play(compiled(wo1, 1))
    await play(compiled(wo2, 1))
    await play(compiled(wo2, 2))
    return {"lena": lena, "max": max_, "ida": ida, "tom": tom, "wo": (wo1, wo2, wo3)}


Known = tuple[duckdb.DuckDBPyConnection, Played, dict[str, Any]]


@pytest.fixture
async def known(admin: EventStore, tmp_path: Path) -> AsyncIterator[Known]:
    """The known log exported into ``<tmp>/export``, and a DuckDB session in ``<tmp>`` with
    the page's views."""
    play = Played(admin)
    people = await play_known_log(play, uuid4().hex[:6])
    request = ExportRequest(out=tmp_path / "export", from_seq=play.first_seq)
    await export(admin, request, progress=None)
    db = duckdb.connect()
    db.execute(f"SET file_search_path = '{tmp_path}'")
    db.execute(queries()["views"])
    yield db, play, people
    db.close()


def test_the_page_has_the_four_queries() -> None:
    assert set(queries()) == {
        "views", "time_to_report", "photos_per_member", "parts_used", "rework_rate",
    }  # fmt: skip


def run(db: duckdb.DuckDBPyConnection, name: str) -> list[dict[str, Any]]:
    cursor = db.execute(queries()[name])
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


async def test_time_from_issue_to_server_report_per_crew(known: Any) -> None:
    db, play, p = known
    wo1, wo2, _ = p["wo"]
    rows = run(db, "time_to_report")
    minutes = [play.minutes(wo1), play.minutes(wo2)]
    assert rows == [
        {
            "leader": p["lena"],
            "members": sorted([p["max"], p["ida"]]),
            "work_orders": 2,
            "median_minutes": pytest.approx(median(minutes), abs=0.006),
            "longest_minutes": pytest.approx(max(minutes), abs=0.006),
        }
    ]  # tom's crew has no server report yet


async def test_photos_per_member(known: Any) -> None:
    db, _, p = known
    rows = {r["member"]: r for r in run(db, "photos_per_member")}
    assert rows[p["lena"]] == {
        "member": p["lena"], "work_orders": 2, "photos": 2, "distinct_images": 2,
        "photos_per_work_order": 1.0,
    }  # fmt: skip
    assert rows[p["ida"]]["photos"] == 2 and rows[p["ida"]]["work_orders"] == 1
    assert rows[p["max"]]["distinct_images"] == 1 and set(rows) == {p["lena"], p["ida"], p["max"]}
    assert next(iter(rows)) in (p["lena"], p["ida"])  # most photos first


async def test_parts_used(known: Any) -> None:
    db, _, _ = known
    assert run(db, "parts_used") == [
        {"part_no": "BOLT-M8", "quantity": 8, "work_orders": 1},
        {"part_no": "SEAL-40", "quantity": 3, "work_orders": 2},
    ]


async def test_rework_rate_is_zero_while_no_report_is_sent_back(known: Any) -> None:
    db, _, _ = known
    assert run(db, "rework_rate") == [
        {"reported_work_orders": 3, "reworked": 0, "rework_percent": 0, "rework_rounds": 0}
    ]


async def test_rework_rate_counts_reports_sent_back(
    known: Any, admin: EventStore, tmp_path: Path
) -> None:
    db, play, p = known
    _, wo2, _ = p["wo"]
    for version in (1, 2):  # sent back twice; the leader submitted versions 2 and 3
        await play(rejected(wo2, version))
        await play(report(wo2, p["lena"], ()).model_copy(update={"report_version": version + 1}))
    await export(admin, ExportRequest(out=tmp_path / "export"), progress=None)
    assert run(db, "rework_rate") == [
        {"reported_work_orders": 3, "reworked": 1, "rework_percent": 33.3, "rework_rounds": 2}
    ]
    # parts: only the latest version of wo2's report counts (it has none)
    assert run(db, "parts_used") == [
        {"part_no": "BOLT-M8", "quantity": 8, "work_orders": 1},
        {"part_no": "SEAL-40", "quantity": 2, "work_orders": 1},
    ]


async def test_the_pandas_snippet_reads_a_folder(known: Any, tmp_path: Path) -> None:
    _, _, p = known
    notes = pd.read_parquet(tmp_path / "export" / "team.MemberNoteAdded")
    totals = notes.groupby("author")["labour_minutes"].sum()
    assert totals[p["max"]] == 30 and len(notes) == 3
