"""Every service's ``/metrics`` scraped before and after a crew flow: every family there, and
each one the flow exercises moved."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from uuid import uuid4

import httpx
import nats
from fieldcrew_cli.servers import Infra
from fieldcrew_cli.stack import SERVICES, Stack
from fieldcrew_shared.eventstore import EventStore
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Crew, ReportWatcher, issue
from tests.e2e.test_crew_flow import NOTE, REPORT, play_notes_and_photos

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]

EVERYWHERE = ("fieldcrew_http_requests", "fieldcrew_http_request_duration_seconds")
EVENT_STORE = (
    "fieldcrew_eventstore_appends",
    "fieldcrew_eventstore_append_duration_seconds",
    "fieldcrew_eventstore_conflict_retries",
)
FAMILIES = {
    "dispatch": EVERYWHERE + EVENT_STORE,
    "team": EVERYWHERE + EVENT_STORE,
    "photos": (
        *EVERYWHERE,
        *EVENT_STORE,
        "fieldcrew_photos_stored_bytes",
        "fieldcrew_photos_rejected",
    ),
    "aggregator": (
        *EVERYWHERE,
        *EVENT_STORE,
        "fieldcrew_projection_events_applied",
        "fieldcrew_projection_dead_letters",
        "fieldcrew_projection_dead_letters_stored",
        "fieldcrew_projection_consumer_pending_messages",
        "fieldcrew_projection_consumer_ack_pending_messages",
        "fieldcrew_aggregator_outbox_size",
        "fieldcrew_aggregator_compile_latency_seconds",
    ),
    "gateway": (*EVERYWHERE, "fieldcrew_gateway_rate_limited", "fieldcrew_gateway_upstream_errors"),
}


async def scrape(stack: Stack) -> dict[str, Samples]:
    """Every service's metrics: family → {labels: value} (samples named after the family,
    ``_total``, ``_count``)."""
    out: dict[str, Samples] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for name in SERVICES:
            answer = await client.get(f"http://127.0.0.1:{stack.ports[name]}/metrics")
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/plain")
            out[name] = {}
            for family in text_string_to_metric_families(answer.text):
                values = out[name].setdefault(family.name, {})
                for sample in family.samples:
                    if sample.name in (family.name, f"{family.name}_total", f"{family.name}_count"):
                        values[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def total(samples: Samples, family: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for key, v in samples.get(family, {}).items() if want <= set(key))


async def concurrent_notes(api: httpx.AsyncClient, crew: Crew, wo: str, n: int) -> None:
    """``n`` notes on one work order at once: the team service's loads overlap, so all but
    one of each round of appends find the work order changed and decide again (each round
    one wins: ``n`` must stay within the command's attempts)."""
    who = [crew.everyone[i % len(crew.everyone)] for i in range(n)]
    answers = await asyncio.gather(
        *(api.post(f"/work-orders/{wo}/notes", json=NOTE, headers=crew.auth(w)) for w in who)
    )
    assert all(a.status_code == 201 for a in answers), [
        (a.status_code, a.text[:300]) for a in answers if a.status_code != 201
    ]


async def until_refused(api: httpx.AsyncClient, crew: Crew, wo: str) -> int:
    """Rounds of 50 requests at once from one user until the gateway refuses one with 429."""
    for round_ in range(1, 21):
        answers = await asyncio.gather(
            *(api.get(f"/work-orders/{wo}", headers=crew.auth(crew.leader)) for _ in range(50))
        )
        if any(a.status_code == 429 for a in answers):
            return round_
    raise AssertionError("1,000 requests and no 429")


async def poison(infra: Infra) -> None:
    """A message on a fieldcrew subject that is no event (as a bug or an intruder with the
    admin's rights could publish): the aggregator must dead-letter it."""
    nc = await nats.connect(infra.nats_url)
    try:
        await nc.jetstream().publish(f"fieldcrew.team.{uuid4()}.MemberNoteAdded", b"not json")
    finally:
        await nc.drain()


def moved(before: Samples, after: Samples, families: Iterable[str], **labels: str) -> list[str]:
    return [f for f in families if total(after, f, **labels) <= total(before, f, **labels)]


async def test_every_service_exposes_its_metrics_and_they_move_in_a_crew_flow(
    api: httpx.AsyncClient, crew: Crew, log: EventStore, stack: Stack, infra: Infra
) -> None:
    before = await scrape(stack)
    wo = await issue(api, crew)
    async with ReportWatcher(log, wo) as watcher:
        await play_notes_and_photos(api, crew, wo)
        await concurrent_notes(api, crew, wo, 6)
        r = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=crew.auth(crew.leader))
        assert r.status_code == 201
        await watcher.revision(1)
    files = {"file": ("notes.txt", b"not an image at all", "text/plain")}
    r = await api.post(f"/work-orders/{wo}/photos", files=files, headers=crew.auth(crew.leader))
    assert r.status_code == 415
    await poison(infra)
    await until_refused(api, crew, wo)
    after = await scrape(stack)
    for service, families in FAMILIES.items():
        assert set(families) <= set(after[service]), (service, set(families) - set(after[service]))
        assert not moved(before[service], after[service], EVERYWHERE), service
    for service in ("dispatch", "team", "photos", "aggregator"):
        assert not moved(before[service], after[service], EVENT_STORE[:1], result="stored")
        assert not moved(before[service], after[service], EVENT_STORE[1:2])
    assert not moved(before["team"], after["team"], EVENT_STORE[:1], result="conflict")
    assert not moved(before["team"], after["team"], ["fieldcrew_eventstore_conflict_retries"])
    assert not moved(before["photos"], after["photos"], FAMILIES["photos"][-2:])
    assert total(after["photos"], "fieldcrew_photos_rejected", reason="unsupported_media_type") > 0
    assert not moved(before["gateway"], after["gateway"], ["fieldcrew_gateway_rate_limited"])
    # the route template, never the raw path (one series for every work order)
    routes = {dict(k)["route"] for k in after["team"]["fieldcrew_http_requests"]}
    assert "/work-orders/{work_order_id}/notes" in routes and not any(wo in r for r in routes)
    aggregator = (
        "fieldcrew_projection_events_applied",
        "fieldcrew_aggregator_compile_latency_seconds",
    )
    assert not moved(before["aggregator"], after["aggregator"], aggregator)
    await dead_lettered(stack, before["aggregator"])


async def dead_lettered(stack: Stack, before: Samples) -> None:
    """The poison message is counted, and shows among the stored dead letters (it is applied
    a moment after it was published: scrape until it is)."""
    families = ["fieldcrew_projection_dead_letters", "fieldcrew_projection_dead_letters_stored"]
    for _ in range(300):  # at most ~30 s
        if not moved(before, (await scrape(stack))["aggregator"], families):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the poison message was not dead-lettered")


async def test_the_gateway_does_not_hand_out_the_services_metrics(stack: Stack) -> None:
    """Only the API's routes are forwarded: no path under /api/v1 reaches a service's
    /metrics (the gateway's own is on its port, for the scraper; deploy/README.md)."""
    gateway = stack.env["FIELDCREW_GATEWAY_URL"]
    async with httpx.AsyncClient(base_url=gateway) as client:
        for path in (
            "/api/v1/metrics",
            "/api/v1/work-orders/metrics",
            "/api/v1/healthz/../metrics",
        ):
            answer = await client.get(path)
            assert answer.status_code in (401, 404, 405), (path, answer.status_code)
            assert "# TYPE" not in answer.text
