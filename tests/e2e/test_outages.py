"""A backend fails or hangs: every call through the gateway that needs it answers 503 with
``Retry-After`` within 5 seconds (the client's own timeout here: a slower answer fails the
test), and the calls that do not need it keep working. Commands need NATS, reads need
PostgreSQL, uploads need S3.

The five services run as processes over servers of this module's own, which the tests pause
(SIGSTOP) and stop; the session's servers are never touched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fieldcrew_cli.stack import SERVICES, Stack, service_env

from tests.e2e.conftest import Crew, free_port, issue
from tests.e2e.test_crew_flow import NOTE, upload
from tests.images import jpeg
from tests.servers import OwnServers

WITHIN = 5.0  # seconds the answer may take, from the client's side


@pytest.fixture(scope="module")
def own() -> Iterator[OwnServers]:
    with OwnServers(s3=True) as servers:
        yield servers


@pytest.fixture(scope="module")
def system(
    own: OwnServers, keys: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    stack = Stack(logs=tmp_path_factory.mktemp("outage-logs"), env={})
    stack.ports = {name: free_port() for name in SERVICES}
    stack.env = service_env(own.infra, keys[1], stack.ports)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
async def api(system: Stack) -> AsyncIterator[httpx.AsyncClient]:
    base = f"{system.env['FIELDCREW_GATEWAY_URL']}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=WITHIN) as client:
        yield client


def assert_retry_later(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.json()["error"]["code"] in {"backend_unavailable", "event_log_refused"}


Call = Callable[[], Awaitable[httpx.Response]]


async def eventually(call: Call, done: Callable[[httpx.Response], bool]) -> httpx.Response:
    """Call until the answer is ``done`` (a backend that came back: its clients reconnect
    and the projection catches up at their own pace), within 30 s."""
    async with asyncio.timeout(30):
        while True:
            answer = await call()
            if done(answer):
                return answer
            await asyncio.sleep(0.2)  # Retry-After's pace, shortened


def listing(wo: str) -> Callable[[httpx.Response], bool]:
    return lambda answer: answer.status_code == 200 and wo in {w["id"] for w in answer.json()}


def status(code: int) -> Callable[[httpx.Response], bool]:
    return lambda answer: answer.status_code == code


async def test_postgres_paused_reads_answer_503_and_commands_still_work(
    own: OwnServers, api: httpx.AsyncClient, crew: Crew
) -> None:
    wo = await issue(api, crew)
    office = crew.auth(crew.dispatcher)
    own.pause("postgres")
    try:
        assert_retry_later(await api.get("/work-orders", headers=office))
        assert_retry_later(await api.get(f"/work-orders/{wo}", headers=office))
        note = await api.post(f"/work-orders/{wo}/notes", json=NOTE, headers=crew.auth(crew.leader))
        assert note.status_code == 201, note.text
        photo = await upload(api, crew, wo, crew.members[0], jpeg(1))
        assert photo.status_code == 201, photo.text
    finally:
        own.resume("postgres")
    await eventually(lambda: api.get("/work-orders", headers=office), listing(wo))


async def test_s3_stopped_uploads_answer_503_and_the_rest_still_works(
    own: OwnServers, api: httpx.AsyncClient, crew: Crew
) -> None:
    wo = await issue(api, crew)
    await asyncio.to_thread(own.stop, "s3")
    try:
        assert_retry_later(await upload(api, crew, wo, crew.leader, jpeg(2)))
        note = await api.post(f"/work-orders/{wo}/notes", json=NOTE, headers=crew.auth(crew.leader))
        assert note.status_code == 201, note.text
        photos = await api.get(f"/work-orders/{wo}/photos", headers=crew.auth(crew.leader))
        assert photos.status_code == 200 and photos.json() == []  # nothing half-stored shows
    finally:
        await asyncio.to_thread(own.start, "s3")
    stored = await eventually(lambda: upload(api, crew, wo, crew.leader, jpeg(2)), status(201))
    assert stored.json()["duplicate"] is False


async def test_nats_paused_commands_answer_503_and_reads_still_work(
    own: OwnServers, api: httpx.AsyncClient, crew: Crew
) -> None:
    wo = await issue(api, crew)
    office = crew.auth(crew.dispatcher)
    await eventually(lambda: api.get("/work-orders", headers=office), listing(wo))
    body = {"title": "Pump P-7 leaks", "crew": {"leader": crew.leader, "members": crew.members}}
    own.pause("nats")
    try:
        assert_retry_later(await api.post("/work-orders", json=body, headers=office))
        note = await api.post(f"/work-orders/{wo}/notes", json=NOTE, headers=crew.auth(crew.leader))
        assert_retry_later(note)
        listed = await api.get("/work-orders", headers=office)
        assert listed.status_code == 200 and wo in {w["id"] for w in listed.json()}
    finally:
        own.resume("nats")
    again = {**body, "title": "Pump P-7 leaks again"}
    issued = await eventually(
        lambda: api.post("/work-orders", json=again, headers=office), status(201)
    )
    assert issued.json()["title"] == "Pump P-7 leaks again"
