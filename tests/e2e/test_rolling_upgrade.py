"""A rolling upgrade of the team service to notes with readings (MemberNoteAdded v2), seen by
an aggregator of each release on the same log (ADR 0058).

The crew works while the team service is half upgraded: some notes are recorded by the
previous release's writer (version 1, no readings), others through the gateway by the running
service (version 2, some with readings). The running aggregator (the new reader) compiles the
server report; the previous release's aggregator (``tests/previous_release.py``: notes known
at version 1 only) follows the same work order's events live from the log. Their reports
agree on everything the previous release knows, and only the new one has the readings."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fieldcrew_aggregator.domain import empty_progress, fold, recompile
from fieldcrew_cli.servers import Infra
from fieldcrew_shared.commands import CommandPipeline
from fieldcrew_shared.envelope import Metadata, check_origin, decode
from fieldcrew_shared.errors import PoisonEventError
from fieldcrew_shared.events import Event, MemberNoteAdded, MemberNoteAddedV1, work_order_subjects
from fieldcrew_shared.eventstore import EventStore, connect
from fieldcrew_team.domain import AddNote, TeamState, decide_add_note
from fieldcrew_team.domain import fold as team_fold
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from tests.e2e.conftest import NOTE, REPORT, Crew, ReportWatcher, issue
from tests.e2e.test_crew_flow import upload
from tests.e2e.test_documents import pdf_text
from tests.images import jpeg
from tests.previous_release import as_it_saw, note_as_written_then, read_then

READINGS = [
    {"name": "discharge pressure", "value": 2.1, "unit": "bar", "phase": "before"},
    {"name": "discharge pressure", "value": 4.2, "unit": "bar", "phase": "after"},
]


class PreviousAggregator:
    """The previous release's aggregator on one work order: its events from the log as they
    are recorded, decoded with that release's catalogue, folded and compiled."""

    def __init__(self, log: EventStore, work_order_id: str) -> None:
        self.js, self.work_order_id = log.js, work_order_id
        self.progress = empty_progress(work_order_id)
        self.seen = 0
        self.moved = asyncio.Event()
        self.set_aside: list[str] = []

    async def __aenter__(self) -> PreviousAggregator:
        self.sub = await self.js.subscribe(
            work_order_subjects(self.work_order_id),
            cb=self.apply,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sub.unsubscribe()

    async def apply(self, msg: Msg) -> None:
        try:
            envelope = decode(msg.data)
            check_origin(envelope, msg.subject)
            event = read_then(envelope)
        except PoisonEventError as exc:
            self.set_aside.append(exc.message)
        else:
            if fold(self.progress, as_it_saw(event), envelope.recorded_at):
                recompile(self.progress)
        self.seen = msg.metadata.sequence.stream
        self.moved.set()

    async def caught_up(self, seq: int) -> None:
        async with asyncio.timeout(30):
            while self.seen < seq:
                self.moved.clear()
                await self.moved.wait()


async def note_by_previous_writer(log: EventStore, wo: str, who: str) -> str:
    """A note recorded as the previous release's team service recorded it: the same rules,
    through the same pipeline, as version 1."""
    cmd = AddNote(uuid.UUID(wo), uuid.uuid4(), who, "technician", str(NOTE["findings"]),
                  f"{NOTE['actions']} ({who})", (), 30)  # fmt: skip
    meta = Metadata(actor=who, actorrole="technician", correlationid=str(uuid.uuid4()))

    def decide(state: TeamState) -> list[Event]:
        [note] = decide_add_note(state, cmd)
        assert isinstance(note, MemberNoteAdded)
        return [note_as_written_then(note)]

    await CommandPipeline(team_fold).run(log, cmd.work_order_id, cmd.note_id, decide, meta)
    return str(cmd.note_id)


async def note_by_current_writer(
    api: httpx.AsyncClient, crew: Crew, wo: str, who: str, readings: list[dict[str, Any]]
) -> str:
    body = {**NOTE, "actions": f"{NOTE['actions']} ({who})", "readings": readings}
    r = await api.post(f"/work-orders/{wo}/notes", json=body, headers=crew.auth(who))
    assert r.status_code == 201, r.text
    assert r.json()["readings"] == readings
    return str(r.json()["id"])


def without_readings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_readings(v) for k, v in value.items() if k != "readings"}
    if isinstance(value, list):
        return [without_readings(v) for v in value]
    return value


def readings_of(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    notes = [n for c in report["contributions"] for n in c["notes"]]
    return {n["note_id"]: n["readings"] for n in notes}


async def test_an_aggregator_of_each_release_compiles_the_same_report_during_the_rollout(
    api: httpx.AsyncClient, crew: Crew, infra: Infra
) -> None:
    nc = await connect(infra.nats_url, name="previous-team")
    log = EventStore(nc, source="fieldcrew/team")
    try:
        wo = await issue(api, crew)
        async with PreviousAggregator(log, wo) as previous, ReportWatcher(log, wo) as watcher:
            readings: dict[str, list[dict[str, Any]]] = {}
            for i, who in enumerate(crew.everyone):  # the writers of both releases in turn
                if i % 2:
                    readings[await note_by_previous_writer(log, wo, who)] = []
                else:
                    taken = READINGS if i == 0 else []
                    readings[await note_by_current_writer(api, crew, wo, who, taken)] = taken
                assert (await upload(api, crew, wo, who, jpeg(seed=580 + i))).status_code == 201
            r = await api.post(
                f"/work-orders/{wo}/report", json=REPORT, headers=crew.auth(crew.leader)
            )
            assert r.status_code == 201, r.text
            assert set(r.json()["merged_note_ids"]) == set(readings)  # v1 notes too
            await watcher.revision(1)
            announced = await log.last(f"fieldcrew.aggregator.{wo}.ServerReportCompiled")
            assert announced is not None
            await previous.caught_up(announced.seq)
        types = [r.envelope.type for r in (await log.load(work_order_subjects(wo))).records]
    finally:
        await nc.drain()

    assert {t for t in types if "MemberNoteAdded" in t} == {
        MemberNoteAddedV1.type_name(),
        MemberNoteAdded.type_name(),
    }
    assert previous.set_aside == []
    new = announced.event.report  # type: ignore[attr-defined]
    assert new is not None and readings_of(new) == readings
    assert previous.progress["revision"] == announced.event.revision  # type: ignore[attr-defined]
    assert without_readings(previous.progress["compiled"]) == without_readings(new)
    # the customer's PDF shows them
    r = await api.get(f"/work-orders/{wo}/server-report.pdf", headers=crew.auth(crew.dispatcher))
    assert r.status_code == 200, r.text
    text = " ".join(pdf_text(r.content)[1].split())
    assert all(t in text for t in ("Readings", "discharge pressure", "2.1 bar", "4.2 bar"))
