"""Server reports as they stood at any moment, through the gateway and from the command line:
equal to the revision that was current then; and the gateway's event contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fieldcrew_cli.servers import Infra
from fieldcrew_cli.stack import Stack
from fieldcrew_shared.events import LeaderReportSubmitted, PhotoUploaded
from fieldcrew_shared.eventstore import EventStore

from tests.cli import fieldcrew
from tests.e2e.conftest import Crew, ReportWatcher, history, issue
from tests.e2e.test_crew_flow import REPORT, play_notes_and_photos, upload
from tests.images import jpeg

ROOT = Path(__file__).parents[2]


async def server_report(
    api: httpx.AsyncClient, crew: Crew, wo: str, **query: Any
) -> httpx.Response:
    path = f"/work-orders/{wo}/server-report"
    return await api.get(path, params=query, headers=crew.auth(crew.dispatcher))


async def two_revisions(api: httpx.AsyncClient, crew: Crew, log: EventStore) -> dict[str, Any]:
    """A work order compiled (revision 1), then a late photo (revision 2); the moments
    between, by time and by sequence."""
    wo = await issue(api, crew)
    async with ReportWatcher(log, wo) as watcher:
        await play_notes_and_photos(api, crew, wo)
        r = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=crew.auth(crew.leader))
        assert r.status_code == 201, r.text
        await watcher.revision(1)
        between = datetime.now(UTC)
        late = await upload(api, crew, wo, crew.members[0], jpeg(seed=4242))
        assert late.status_code == 201, late.text
        await watcher.revision(2)
    events = (await history(log, wo)).records
    photos = [r for r in events if isinstance(r.event, PhotoUploaded)]
    assert str(photos[-1].event.photo_id) == late.json()["id"]
    reported = next(r for r in events if isinstance(r.event, LeaderReportSubmitted))
    return {
        "wo": wo,
        "between": between,
        "late_seq": photos[-1].seq,
        "report_seq": reported.seq,
        "issued": events[0].envelope.recordedat,
    }


async def test_a_report_as_of_a_moment_is_the_revision_current_then(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    m = await two_revisions(api, crew, log)
    wo = m["wo"]
    first = (await server_report(api, crew, wo, revision=1)).json()
    second = (await server_report(api, crew, wo, revision=2)).json()
    assert first["revision"] == 1 and second["revision"] == 2 and first != second

    cases = [
        (m["between"].isoformat(), first),  # by time, between the two revisions
        (str(m["late_seq"] - 1), first),  # by sequence, the event before the late photo
        (str(m["late_seq"]), second),  # the late photo itself
        ((datetime.now(UTC) + timedelta(days=1)).isoformat(), second),  # later than the log
    ]
    for as_of, expected in cases:
        r = await server_report(api, crew, wo, as_of=as_of)
        assert r.status_code == 200, (as_of, r.text)
        assert r.json() == expected, as_of

    for before in (str(m["report_seq"] - 1), m["issued"].isoformat()):
        r = await server_report(api, crew, wo, as_of=before)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_compiled", r.text


async def test_as_of_refuses_bad_input_and_strangers(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    for bad in ("yesterday", "2026-11-02T08:00:00", "-3"):
        r = await server_report(api, crew, wo, as_of=bad)
        assert r.status_code == 422 and "error" in r.json(), (bad, r.text)
    both = await server_report(api, crew, wo, as_of="12", revision=1)
    assert both.status_code == 422 and both.json()["error"]["code"] == "invalid_as_of"
    path = f"/work-orders/{wo}/server-report"
    r = await api.get(path, params={"as_of": "12"}, headers=crew.auth(crew.outsider))
    assert r.status_code == 403


async def test_the_report_command_prints_the_report_as_of_a_moment(
    api: httpx.AsyncClient, crew: Crew, log: EventStore, infra: Infra, tmp_path: Path
) -> None:
    m = await two_revisions(api, crew, log)
    first = (await server_report(api, crew, m["wo"], revision=1)).json()
    as_of = m["between"].isoformat()
    done = await fieldcrew(infra.nats_url, tmp_path, "report", m["wo"], "--as-of", as_of)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == first


async def test_the_gateway_serves_the_event_contract(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.env["FIELDCREW_GATEWAY_URL"]) as client:
        r = await client.get("/asyncapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == json.loads((ROOT / "docs" / "asyncapi.json").read_text())
