"""The crew repair flow through the gateway, as mobile clients play it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fieldcrew_shared.eventstore import EventStore

from tests.e2e.conftest import Crew, ReportWatcher, history, issue
from tests.images import jpeg

NOTE = {
    "findings": "shaft seal worn",
    "actions": "replaced seal",
    "parts": [{"part_no": "SEAL-40", "qty": 1}, {"part_no": "BOLT-M8", "qty": 2}],
    "labour_minutes": 45,
}
REPORT = {
    "summary": "Seal replaced, pump tested 30 min",
    "root_cause": "wear",
    "outcome": "resolved",
}


async def upload(
    api: httpx.AsyncClient, crew: Crew, wo: str, who: str, data: bytes, name: str = "p.jpg"
) -> httpx.Response:
    files = {"file": (name, data, "image/jpeg")}
    return await api.post(
        f"/work-orders/{wo}/photos", files=files, data={"phase": "after"}, headers=crew.auth(who)
    )


async def play_notes_and_photos(api: httpx.AsyncClient, crew: Crew, wo: str) -> list[str]:
    note_ids = []
    for i, who in enumerate(crew.everyone):
        r = await api.post(f"/work-orders/{wo}/notes", json=NOTE, headers=crew.auth(who))
        assert r.status_code == 201, r.text
        note_ids.append(r.json()["id"])
        r = await upload(api, crew, wo, who, jpeg(seed=hash((wo, i)) % 10_000))
        assert r.status_code == 201, r.text
    return note_ids


async def test_the_whole_crew_flow(api: httpx.AsyncClient, crew: Crew, log: EventStore) -> None:
    wo = await issue(api, crew, min_photos_per_member=1)
    async with ReportWatcher(log, wo) as watcher:
        note_ids = await play_notes_and_photos(api, crew, wo)
        r = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=crew.auth(crew.leader))
        assert r.status_code == 201, r.text
        # every member told the same repair: one line, its parts counted once
        assert r.json()["parts"] == [
            {"part_no": "SEAL-40", "qty": 1},
            {"part_no": "BOLT-M8", "qty": 2},
        ]
        [line] = r.json()["lines"]
        assert line["note_ids"] == note_ids and line["authors"] == crew.everyone
        await watcher.revision(1)
    r = await api.get(f"/work-orders/{wo}/server-report", headers=crew.auth(crew.dispatcher))
    assert r.status_code == 200, r.text
    report: dict[str, Any] = r.json()
    assert report["revision"] == 1
    assert report["leader_report"]["merged_note_ids"] == note_ids
    assert report["deduplicated"] == {
        "member_submissions": 4, "report_lines": 1, "photo_uploads": 4, "photos": 4
    }  # fmt: skip
    [line] = report["lines"]
    assert line["credited"] == crew.everyone and line["labour_minutes"] == 4 * 45
    assert [c["user"] for c in report["contributions"]] == crew.everyone
    assert all(len(c["notes"]) == 1 and len(c["photo_ids"]) == 1 for c in report["contributions"])
    assert len(report["photos"]) == 4 and report["missing"] == []
    uploaders = {p["uploaders"][0]["user"] for p in report["photos"]}
    assert uploaders == set(crew.everyone)
    status = await api.get(f"/work-orders/{wo}", headers=crew.auth(crew.members[0]))
    assert status.json()["status"] == "completed"
    assert status.json()["notes"] == 4 and status.json()["photos"] == 4


async def test_the_report_waits_for_everyones_photos_and_says_what_is_missing(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    r = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=crew.auth(crew.leader))
    assert r.status_code == 201
    async with ReportWatcher(log, wo) as watcher:
        for i, who in enumerate(crew.everyone[:-1]):
            assert (await upload(api, crew, wo, who, jpeg(seed=500 + i))).status_code == 201
        r = await api.get(f"/work-orders/{wo}/server-report", headers=crew.auth(crew.dispatcher))
        assert r.status_code == 404
        last = crew.everyone[-1]
        assert (await upload(api, crew, wo, last, jpeg(seed=600))).status_code == 201
        await watcher.revision(1)
    status = (await api.get(f"/work-orders/{wo}", headers=crew.auth(crew.dispatcher))).json()
    assert status["status"] == "completed" and status["missing"] == []


async def test_a_member_cannot_submit_the_leader_report_and_nothing_is_written(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    before = await history(log, wo)
    for who in crew.members:
        r = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=crew.auth(who))
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "forbidden"
    assert (await history(log, wo)).version == before.version


async def test_a_technician_not_on_the_crew_is_refused_everywhere(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    before = await history(log, wo)
    eve = crew.auth(crew.outsider)
    calls = [
        api.post(f"/work-orders/{wo}/notes", json=NOTE, headers=eve),
        upload(api, crew, wo, crew.outsider, jpeg(seed=1)),
        api.post(f"/work-orders/{wo}/report", json=REPORT, headers=eve),
        api.get(f"/work-orders/{wo}/notes", headers=eve),
        api.get(f"/work-orders/{wo}/photos", headers=eve),
        api.get(f"/work-orders/{wo}", headers=eve),
        api.get(f"/work-orders/{wo}/server-report", headers=eve),
    ]
    for call in calls:
        assert (await call).status_code == 403
    assert (await history(log, wo)).version == before.version
    listed = (await api.get("/work-orders", headers=eve)).json()
    assert wo not in [w["id"] for w in listed]


async def test_two_concurrent_report_submissions_exactly_one_wins(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    lead = crew.auth(crew.leader)
    results = await asyncio.gather(
        *[api.post(f"/work-orders/{wo}/report", json=REPORT, headers=lead) for _ in range(4)]
    )
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409]
    reports = [e for e in (await history(log, wo, "team")).events]
    assert len(reports) == 1


async def test_a_late_photo_makes_revision_two(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    async with ReportWatcher(log, wo) as watcher:
        await play_notes_and_photos(api, crew, wo)
        r = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=crew.auth(crew.leader))
        assert r.status_code == 201
        await watcher.revision(1)
        assert (await upload(api, crew, wo, crew.members[1], jpeg(seed=999))).status_code == 201
        await watcher.revision(2)
    r = await api.get(f"/work-orders/{wo}/server-report", headers=crew.auth(crew.leader))
    assert r.json()["revision"] == 2 and len(r.json()["photos"]) == 5
    first = await api.get(
        f"/work-orders/{wo}/server-report", params={"revision": 1}, headers=crew.auth(crew.leader)
    )
    assert first.json()["revision"] == 1 and len(first.json()["photos"]) == 4


async def test_the_same_photo_twice_is_stored_once(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    image = jpeg(seed=4242)
    first = await upload(api, crew, wo, crew.members[0], image)
    again = await upload(api, crew, wo, crew.members[0], image)
    other = await upload(api, crew, wo, crew.members[1], image, name="other-name.jpg")
    assert first.status_code == 201 and not first.json()["duplicate"]
    assert again.json()["duplicate"] and other.json()["duplicate"]
    assert first.json()["id"] == again.json()["id"] == other.json()["id"]
    photos = (await api.get(f"/work-orders/{wo}/photos", headers=crew.auth(crew.leader))).json()
    assert len(photos) == 1
    assert photos[0]["uploaders"] == [crew.members[0], crew.members[1]]


async def test_bytes_that_are_not_an_image_named_jpg_are_refused(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    r = await upload(api, crew, wo, crew.leader, b"#!/bin/sh\necho not a photo\n", "evil.jpg")
    assert r.status_code == 415
    assert r.json()["error"]["message"]
    assert (await history(log, wo, "photos")).records == []


async def test_an_idempotent_retry_issues_one_work_order(
    api: httpx.AsyncClient, crew: Crew
) -> None:
    body = {"title": "Retry me", "crew": {"leader": crew.leader, "members": crew.members}}
    headers = {**crew.auth(crew.dispatcher), "Idempotency-Key": f"k-{crew.leader}"}
    first = await api.post("/work-orders", json=body, headers=headers)
    again = await api.post("/work-orders", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
