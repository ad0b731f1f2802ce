"""Offline sync through the gateway: a batch of what a crew member did without signal, sent
once and again (nothing applied twice), each action authorized as the caller, one rejection not
stopping the others; a note recorded before the report but synced after it kept as a late note
and merged in the rework version; batches over the limits refused whole, writing nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
from fieldcrew_shared.eventstore import EventStore

from tests.e2e.conftest import Crew, ReportWatcher, history, issue
from tests.images import jpeg

NOTE = {"findings": "impeller cracked", "parts": [{"part_no": "IMP-7", "qty": 1}]}
REPORT = {"summary": "Impeller replaced", "outcome": "resolved"}


def action(kind: str, wo: str, body: dict[str, Any], minutes_ago: int = 60) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {
        "id": str(uuid4()),
        "type": kind,
        "work_order_id": wo,
        "occurred_at": at.isoformat(),
        "body": body,
    }


async def sync(api: httpx.AsyncClient, crew: Crew, who: str, actions: list[Any]) -> Any:
    r = await api.post("/sync", json={"actions": actions}, headers=crew.auth(who))
    assert r.status_code == 200, r.text
    return r.json()["results"]


def statuses(results: list[Any]) -> list[tuple[str, str | None]]:
    return [(r["status"], r["code"]) for r in results]


async def test_a_batch_sent_twice_applies_once_and_rejections_do_not_stop_it(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo, other = await issue(api, crew), await issue(api, crew, title="Another crew's job")
    leader = crew.leader
    r = await api.put(  # the other work order is another crew's
        f"/work-orders/{other}/crew",
        json={"leader": crew.outsider, "members": []},
        headers=crew.auth(crew.dispatcher),
    )
    assert r.status_code == 200, r.text
    actions = [
        action("start", wo, {}, minutes_ago=90),
        action("note", wo, NOTE, minutes_ago=80),
        action("note", other, NOTE),  # not on that crew
        action("note", str(uuid4()), NOTE),  # nobody issued it
        action("note", wo, {**NOTE, "parts": [{"part_no": "IMP-7", "qty": "1"}]}),  # bad body
        action("report", wo, REPORT, minutes_ago=30),
        action("start", wo, {}),  # the state machine: already started
    ]
    first = await sync(api, crew, leader, actions)
    assert [r["id"] for r in first] == [a["id"] for a in actions]
    assert statuses(first) == [
        ("applied", None),
        ("applied", None),
        ("rejected", "forbidden"),
        ("rejected", "not_found"),
        ("rejected", "invalid_request"),
        ("applied", None),
        ("rejected", "already_started"),
    ]
    assert first[0]["resource_id"] == wo and first[1]["resource_id"] and first[5]["resource_id"]
    written = (await history(log, wo)).version
    again = await sync(api, crew, leader, actions)
    assert statuses(again)[:2] == [("duplicate", None), ("duplicate", None)]
    assert statuses(again)[5] == ("duplicate", None)
    assert [r["resource_id"] for r in again][:2] == [r["resource_id"] for r in first][:2]
    assert (await history(log, wo)).version == written
    started = (await history(log, wo)).records[1]
    assert started.envelope.occurred_at == datetime.fromisoformat(actions[0]["occurred_at"])
    reused = {**actions[1], "body": {**NOTE, "findings": "something else"}}
    [result] = await sync(api, crew, leader, [reused])
    assert (result["status"], result["code"]) == ("rejected", "idempotency_key_reused")


async def test_a_note_recorded_before_the_report_but_synced_after_is_kept_and_merged_later(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew, min_photos_per_member=0)
    basement = action("note", wo, {**NOTE, "findings": "noted in the basement"}, minutes_ago=45)
    lead = crew.auth(crew.leader)
    async with ReportWatcher(log, wo) as watcher:
        r = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=lead)
        assert r.status_code == 201, r.text
        await watcher.revision(1)
        late_one = action("note", wo, NOTE, minutes_ago=-1)  # done after the report: refused
        results = await sync(api, crew, crew.members[0], [basement, late_one])
        assert statuses(results) == [("applied", None), ("rejected", "report_already_submitted")]
        await watcher.revision(2)  # the late note is news for the server report
    notes = (await api.get(f"/work-orders/{wo}/notes", headers=lead)).json()
    assert [(n["id"], n["after_report"]) for n in notes] == [(results[0]["resource_id"], True)]
    report = (await api.get(f"/work-orders/{wo}/server-report", headers=lead)).json()
    assert [n["note_id"] for n in report["after_report"]] == [results[0]["resource_id"]]
    summary = (await api.get(f"/work-orders/{wo}", headers=crew.auth(crew.dispatcher))).json()
    assert summary["late_notes"] == 1
    async with ReportWatcher(log, wo) as watcher:
        reject = {"reason": "merge the basement note"}
        r = await api.post(
            f"/work-orders/{wo}/report/reject", json=reject, headers=crew.auth(crew.dispatcher)
        )
        assert r.status_code == 200, r.text
        r = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=lead)
        assert (r.status_code, r.json()["version"]) == (201, 2), r.text
        assert r.json()["merged_note_ids"] == [results[0]["resource_id"]]
        await watcher.revision(3)
    report = (await api.get(f"/work-orders/{wo}/server-report", headers=lead)).json()
    assert report["after_report"] == [] and report["report_version"] == 2


async def test_batches_over_the_limits_are_refused_whole(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    before = (await history(log, wo)).version
    member = crew.auth(crew.members[0])
    too_many = [action("note", wo, NOTE) for _ in range(201)]
    r = await api.post("/sync", json={"actions": too_many}, headers=member)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "sync_batch_too_large")
    bulky = [action("note", wo, {"findings": "x" * 9_000}) for _ in range(120)]
    r = await api.post("/sync", json={"actions": bulky}, headers=member)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "sync_batch_too_large")
    r = await api.post("/sync", json={"actions": [{"id": "not-a-uuid"}]}, headers=member)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_request")
    assert (await history(log, wo)).version == before


async def test_a_photo_retried_with_its_idempotency_key_through_the_gateway(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    headers = {**crew.auth(crew.members[1]), "Idempotency-Key": f"photo-{uuid4()}"}

    async def send(seed: int) -> httpx.Response:
        files = {"file": ("p.jpg", jpeg(seed=seed), "image/jpeg")}
        return await api.post(f"/work-orders/{wo}/photos", files=files, headers=headers)

    first, again, other = await send(5150), await send(5150), await send(5151)
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 422)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert len((await log.load(f"fieldcrew.photos.{wo}.PhotoUploaded")).records) == 1
