"""A work order's lifecycle through the gateway, as a mobile client and a dispatcher play it:
start, cancel, a crew change, a rejected report and its second version, overdue filtering; and
every state-machine violation answered 409 with the rule's code, writing nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fieldcrew_shared.eventstore import EventStore

from tests.e2e.conftest import Crew, ReportWatcher, history, issue
from tests.images import jpeg

NOTE = {"findings": "seal worn", "actions": "replaced", "parts": [{"part_no": "S-1", "qty": 1}]}
REPORT = {"summary": "Seal replaced", "outcome": "resolved"}
CANCEL = {"reason": "The customer replaced the pump themselves"}


async def shown(
    api: httpx.AsyncClient, crew: Crew, wo: str, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The status view once the projection shows what ``ready`` waits for (bounded)."""
    async with asyncio.timeout(30):
        while True:
            r = await api.get(f"/work-orders/{wo}", headers=crew.auth(crew.dispatcher))
            assert r.status_code == 200, r.text
            if ready(r.json()):
                return dict(r.json())
            await asyncio.sleep(0.05)


async def written(log: EventStore, wo: str) -> list[int]:
    """The work order's events but the rendition worker's, which it records on its own time
    for photos uploaded earlier (``PhotoRenditionsMade``): what commands wrote."""
    records = (await history(log, wo)).records
    return [r.seq for r in records if not r.event.name.startswith("PhotoRendition")]


async def refused(log: EventStore, wo: str, status: int, code: str, *calls: Any) -> None:
    """Each call is answered ``status`` with ``code``, and the work order's log stays as it was."""
    before = await written(log, wo)
    for call in calls:
        r = await call
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert await written(log, wo) == before


def photo(api: httpx.AsyncClient, crew: Crew, wo: str, who: str, seed: int) -> Any:
    files = {"file": ("p.jpg", jpeg(seed=seed), "image/jpeg")}
    return api.post(f"/work-orders/{wo}/photos", files=files, headers=crew.auth(who))


async def complete(api: httpx.AsyncClient, crew: Crew, wo: str, seed: int) -> None:
    """A note and a photo from everyone, then the leader's report."""
    for i, who in enumerate(crew.everyone):
        note = {**NOTE, "findings": f"{who}: seal worn"}
        r = await api.post(f"/work-orders/{wo}/notes", json=note, headers=crew.auth(who))
        assert r.status_code == 201, r.text
        assert (await photo(api, crew, wo, who, seed + i)).status_code == 201
    r = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=crew.auth(crew.leader))
    assert r.status_code == 201, r.text


async def test_start_then_cancel_and_a_cancelled_work_order_takes_nothing(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    lead, member = crew.auth(crew.leader), crew.auth(crew.members[0])
    await refused(log, wo, 403, "forbidden", api.post(f"/work-orders/{wo}/start", headers=member))
    on_site = "2026-12-02T07:58:00+01:00"
    r = await api.post(
        f"/work-orders/{wo}/start", json={}, headers={**lead, "X-Occurred-At": on_site}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_progress" and r.json()["started"]["by"] == crew.leader
    assert datetime.fromisoformat(r.json()["started"]["at"]) == datetime.fromisoformat(on_site)
    await refused(
        log, wo, 409, "already_started", api.post(f"/work-orders/{wo}/start", headers=lead)
    )
    r = await api.post(f"/work-orders/{wo}/cancel", json=CANCEL, headers=crew.auth(crew.dispatcher))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert r.json()["cancelled"]["by"] == crew.dispatcher
    assert r.json()["cancelled"]["reason"] == CANCEL["reason"]
    await refused(
        log,
        wo,
        409,
        "work_order_cancelled",
        api.post(f"/work-orders/{wo}/notes", json=NOTE, headers=member),
        photo(api, crew, wo, crew.members[0], 31),
        api.post(f"/work-orders/{wo}/report", json=REPORT, headers=lead),
        api.post(f"/work-orders/{wo}/cancel", json=CANCEL, headers=crew.auth(crew.dispatcher)),
        api.put(
            f"/work-orders/{wo}/crew",
            json={"leader": crew.members[0], "members": []},
            headers=crew.auth(crew.dispatcher),
        ),
    )
    view = await shown(api, crew, wo, lambda v: v["status"] == "cancelled")
    assert view["cancelled"]["reason"] == CANCEL["reason"] and view["started"]["by"] == crew.leader


async def test_a_crew_change_moves_the_work_to_the_new_crew_and_keeps_the_old_credit(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    old_leader, leaving, joining = crew.leader, crew.members[2], crew.outsider
    r = await api.post(
        f"/work-orders/{wo}/notes", json=NOTE, headers=crew.auth(leaving)
    )  # added before the change: it stays
    assert r.status_code == 201
    new_crew = {"leader": crew.members[0], "members": [crew.members[1], old_leader, joining]}
    r = await api.put(f"/work-orders/{wo}/crew", json=new_crew, headers=crew.auth(crew.dispatcher))
    assert r.status_code == 200, r.text
    assert r.json()["crew"] == new_crew
    [change] = r.json()["crew_changes"]
    assert change["by"] == crew.dispatcher and change["crew"] == new_crew
    assert change["previous"] == {"leader": old_leader, "members": crew.members}
    await refused(
        log,
        wo,
        403,
        "forbidden",
        api.post(f"/work-orders/{wo}/notes", json=NOTE, headers=crew.auth(leaving)),
        photo(api, crew, wo, leaving, 41),
        api.post(f"/work-orders/{wo}/report", json=REPORT, headers=crew.auth(old_leader)),
    )
    async with ReportWatcher(log, wo) as watcher:
        crew.leader, crew.members = new_crew["leader"], new_crew["members"]  # type: ignore[assignment]
        await complete(api, crew, wo, seed=4300)
        await watcher.revision(1)
    report = (await api.get(f"/work-orders/{wo}/server-report", headers=crew.auth(joining))).json()
    assert report["leader_report"]["leader"] == new_crew["leader"]
    roles = {c["user"]: c["role"] for c in report["contributions"]}
    assert roles[leaving] == "former" and roles[joining] == "member"
    assert roles[new_crew["leader"]] == "leader"
    await refused(
        log,
        wo,
        409,
        "crew_change_not_allowed",
        api.put(f"/work-orders/{wo}/crew", json=new_crew, headers=crew.auth(crew.dispatcher)),
    )


async def test_a_rejected_report_goes_back_and_version_two_makes_a_new_revision(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    office = crew.auth(crew.dispatcher)
    reject = {"reason": "Photos of the new seal are missing"}
    await refused(
        log,
        wo,
        409,
        "report_not_submitted",
        api.post(f"/work-orders/{wo}/report/reject", json=reject, headers=office),
    )
    async with ReportWatcher(log, wo) as watcher:
        await complete(api, crew, wo, seed=4400)
        await watcher.revision(1)
        r = await api.post(f"/work-orders/{wo}/report/reject", json=reject, headers=office)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "rework"
        assert r.json()["rejections"][0]["reason"] == reject["reason"]
        member = crew.auth(crew.members[0])
        extra = {"findings": "second seal also worn", "parts": [{"part_no": "S-2", "qty": 1}]}
        r = await api.post(f"/work-orders/{wo}/notes", json=extra, headers=member)
        assert r.status_code == 201, r.text
        r = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=crew.auth(crew.leader))
        assert (r.status_code, r.json()["version"]) == (201, 2), r.text
        await watcher.revision(2)
    lead = crew.auth(crew.leader)
    first = await api.get(f"/work-orders/{wo}/report", params={"version": 1}, headers=lead)
    newest = await api.get(f"/work-orders/{wo}/report", headers=office)
    assert first.json()["version"] == 1 and first.json()["rejection"]["reason"] == reject["reason"]
    assert newest.json()["version"] == 2 and newest.json()["rejection"] is None
    assert len(newest.json()["merged_note_ids"]) == len(first.json()["merged_note_ids"]) + 1
    missing = await api.get(f"/work-orders/{wo}/report", params={"version": 3}, headers=lead)
    assert missing.status_code == 404
    report = (await api.get(f"/work-orders/{wo}/server-report", headers=office)).json()
    assert (report["revision"], report["report_version"]) == (2, 2)
    assert [v["version"] for v in report["report_versions"]] == [1, 2]
    view = await shown(api, crew, wo, lambda v: v["status"] == "completed")
    assert view["report_version"] == 2
    await refused(
        log,
        wo,
        409,
        "work_order_completed",
        api.post(f"/work-orders/{wo}/cancel", json=CANCEL, headers=office),
    )


async def test_overdue_work_orders_are_flagged_and_filtered(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    now = datetime.now(UTC)
    late = await issue(api, crew, due_at=(now - timedelta(hours=1)).isoformat())
    later = await issue(api, crew, due_at=(now + timedelta(days=1)).isoformat())
    gone = await issue(api, crew, due_at=(now - timedelta(hours=2)).isoformat())
    office = crew.auth(crew.dispatcher)
    r = await api.post(f"/work-orders/{gone}/cancel", json=CANCEL, headers=office)
    assert r.status_code == 200 and not r.json()["overdue"]
    await shown(api, crew, gone, lambda v: v["status"] == "cancelled")
    await shown(api, crew, later, lambda v: v["status"] == "issued")
    assert (await shown(api, crew, late, lambda v: v["overdue"]))["due_at"]
    listed = await api.get("/work-orders", params={"overdue": "true", "limit": 500}, headers=office)
    ids = {w["id"] for w in listed.json()}
    assert late in ids and later not in ids and gone not in ids
    assert all(w["overdue"] for w in listed.json())
    mine = await api.get("/work-orders", params={"overdue": "true"}, headers=crew.auth(crew.leader))
    assert {w["id"] for w in mine.json()} >= {late}


async def test_cancelling_after_a_compile_makes_one_last_revision_marked_cancelled(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    office = crew.auth(crew.dispatcher)
    async with ReportWatcher(log, wo) as watcher:
        await complete(api, crew, wo, seed=4500)
        await watcher.revision(1)
        reject = {"reason": "wrong seal"}
        r = await api.post(f"/work-orders/{wo}/report/reject", json=reject, headers=office)
        assert r.status_code == 200, r.text
        r = await api.post(f"/work-orders/{wo}/cancel", json=CANCEL, headers=office)
        assert r.status_code == 200, r.text
        await watcher.revision(2)
    report = (await api.get(f"/work-orders/{wo}/server-report", headers=office)).json()
    assert report["revision"] == 2 and report["cancelled"]["reason"] == CANCEL["reason"]
    await refused(log, wo, 409, "work_order_cancelled", photo(api, crew, wo, crew.members[0], 4599))
    view = await shown(api, crew, wo, lambda v: v["status"] == "cancelled")
    assert view["revision"] == 2
