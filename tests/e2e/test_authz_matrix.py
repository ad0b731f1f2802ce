"""The authorization matrix: every gateway operation called as every role against this crew's
work order (A), another crew's (B) and one nobody issued (X), through the gateway and straight
at the service that owns it (every service checks the token itself). Each cell's status is
written in ``MATRIX``; a refused call writes nothing to the event log.

Who may do what: the README's API table ("who"), read as an allow-list; where it is silent,
decided here (and in docs/adr/0010-who-may-read-what.md):

- Issue a work order: the dispatcher. ``admin`` has the dispatcher's rights everywhere.
- List work orders, read one's status, read its server report: the office (dispatcher, admin,
  analyst) and its crew. The table first named the analyst for the server report only; the
  list and status are projections of the log analysts replay anyway (crew ids and counts), so
  they may read them too.
- Add a note, upload a photo: its crew, each as themselves, with a technician's token.
- Read notes: its crew only, the leader all of them, a member their own. The office gets the
  notes merged in the leader's report and the server report, not one by one: that is the
  point of the invention (no duplicated submissions reach the office).
- Submit the report: its leader only. Read it: the dispatcher (admin) and its crew.
- Read photos (their presigned URLs hand out the evidence bytes): the dispatcher (admin) and
  its crew, not the analyst.
- Webhooks (register, list, read deliveries): the admin only (ADR 0043); a webhook nobody
  registered (X) is 404 for the admin, 403 for everyone else.
- A work order nobody issued is 404 for every caller with a valid token (ids are random UUIDs
  and anyone in the office may list them, so existence is no secret); then the rules above
  give 403. A photo id of another work order is 404 on yours (and 403 on theirs).
- Live events (ADR 0037): a work order's stream is for those who read its status (the office
  and its crew), each event shaped for them; the office's feed of every work order for the
  office roles.
- The lifecycle (ADR 0035): its leader starts the work; the dispatcher (admin) cancels a work
  order, changes its crew and rejects its leader's report. Target ``A!`` is a fresh work order
  of crew A whose leader has submitted the report.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, field
from uuid import uuid4

import httpx
import pytest
from fieldcrew_cli.servers import Infra
from fieldcrew_cli.stack import Stack
from fieldcrew_shared.errors import PoisonEventError
from fieldcrew_shared.eventstore import EventStore, connect
from fieldcrew_shared.records import Recorded

from tests.conftest import TokenFactory
from tests.e2e.conftest import ReportWatcher
from tests.images import jpeg

ROLES = ("dispatcher", "admin", "leader", "member", "tech_b", "analyst", "no_token")

# Targets: A = this crew's work order (leader, member are on it); B = another crew's (tech_b
# leads it); X = a UUID nobody issued. ``A/b`` = work order A with the id of one of B's photos.
# POST rows run each cell on a fresh work order; GET rows on A and B once completed.
MATRIX = """
http path                             target dispatcher admin leader member tech_b analyst no_token
POST /work-orders                     -      201        201   403    403    403    403     401
GET  /work-orders                     -      200        200   200    200    200    200     401
GET  /work-orders/{wo}                A      200        200   200    200    403    200     401
GET  /work-orders/{wo}                B      200        200   403    403    200    200     401
GET  /work-orders/{wo}                X      404        404   404    404    404    404     401
POST /work-orders/{wo}/notes          A      403        403   201    201    403    403     401
POST /work-orders/{wo}/notes          B      403        403   403    403    201    403     401
POST /work-orders/{wo}/notes          X      404        404   404    404    404    404     401
GET  /work-orders/{wo}/notes          A      403        403   200    200    403    403     401
GET  /work-orders/{wo}/notes          B      403        403   403    403    200    403     401
GET  /work-orders/{wo}/notes          X      404        404   404    404    404    404     401
POST /work-orders/{wo}/report         A      403        403   201    403    403    403     401
POST /work-orders/{wo}/report         B      403        403   403    403    201    403     401
POST /work-orders/{wo}/report         X      404        404   404    404    404    404     401
GET  /work-orders/{wo}/report         A      200        200   200    200    403    403     401
GET  /work-orders/{wo}/report         B      200        200   403    403    200    403     401
GET  /work-orders/{wo}/report         X      404        404   404    404    404    404     401
POST /work-orders/{wo}/start          A      403        403   200    403    403    403     401
POST /work-orders/{wo}/start          B      403        403   403    403    200    403     401
POST /work-orders/{wo}/start          X      404        404   404    404    404    404     401
POST /work-orders/{wo}/cancel         A      200        200   403    403    403    403     401
POST /work-orders/{wo}/cancel         B      200        200   403    403    403    403     401
POST /work-orders/{wo}/cancel         X      404        404   404    404    404    404     401
PUT  /work-orders/{wo}/crew           A      200        200   403    403    403    403     401
PUT  /work-orders/{wo}/crew           X      404        404   404    404    404    404     401
POST /work-orders/{wo}/report/reject  A!     200        200   403    403    403    403     401
POST /work-orders/{wo}/report/reject  X      404        404   404    404    404    404     401
POST /work-orders/{wo}/photos         A      403        403   201    201    403    403     401
POST /work-orders/{wo}/photos         B      403        403   403    403    201    403     401
POST /work-orders/{wo}/photos         X      404        404   404    404    404    404     401
GET  /work-orders/{wo}/photos         A      200        200   200    200    403    403     401
GET  /work-orders/{wo}/photos         B      200        200   403    403    200    403     401
GET  /work-orders/{wo}/photos         X      404        404   404    404    404    404     401
GET  /work-orders/{wo}/photos/{photo} A/a    200        200   200    200    403    403     401
GET  /work-orders/{wo}/photos/{photo} B/b    200        200   403    403    200    403     401
GET  /work-orders/{wo}/photos/{photo} A/b    404        404   404    404    403    403     401
GET  /work-orders/{wo}/photos/{photo} B/a    404        404   403    403    404    403     401
GET  /work-orders/{wo}/photos/{photo} X/a    404        404   404    404    404    404     401
GET  /work-orders/{wo}/events         A      200        200   200    200    403    200     401
GET  /work-orders/{wo}/events         B      200        200   403    403    200    200     401
GET  /work-orders/{wo}/events         X      404        404   404    404    404    404     401
GET  /events                          -      200        200   403    403    403    200     401
GET  /work-orders/{wo}/server-report  A      200        200   200    200    403    200     401
GET  /work-orders/{wo}/server-report  B      200        200   403    403    200    200     401
GET  /work-orders/{wo}/server-report  X      404        404   404    404    404    404     401
GET  /work-orders/{wo}/server-report/revisions A 200    200   200    200    403    200     401
GET  /work-orders/{wo}/server-report/revisions B 200    200   403    403    200    200     401
GET  /work-orders/{wo}/server-report/revisions X 404    404   404    404    404    404     401
GET  /work-orders/{wo}/timeline       A      200        200   200    200    403    200     401
GET  /work-orders/{wo}/timeline       B      200        200   403    403    200    200     401
GET  /work-orders/{wo}/timeline       X      404        404   404    404    404    404     401
GET  /work-orders/{wo}/server-report.pdf A   200        200   200    200    403    403     401
GET  /work-orders/{wo}/server-report.pdf B   200        200   403    403    200    403     401
GET  /work-orders/{wo}/server-report.pdf X   404        404   404    404    404    404     401
POST /work-orders/{wo}/share-links    A      201        201   403    403    403    403     401
POST /work-orders/{wo}/share-links    B      201        201   403    403    403    403     401
POST /work-orders/{wo}/share-links    X      404        404   404    404    404    404     401
GET  /work-orders/{wo}/share-links    A      200        200   403    403    403    403     401
GET  /work-orders/{wo}/share-links    X      404        404   404    404    404    404     401
DELETE /work-orders/{wo}/share-links/{link} A 204       204   403    403    403    403     401
DELETE /work-orders/{wo}/share-links/{link} X 404       404   404    404    404    404     401
POST /webhooks                        -      403        201   403    403    403    403     401
GET  /webhooks                        -      403        200   403    403    403    403     401
GET  /webhooks/{hook}/deliveries      H      403        200   403    403    403    403     401
GET  /webhooks/{hook}/deliveries      X      403        404   403    403    403    403     401
"""

NOTE = {"findings": "seal worn", "actions": "replaced", "parts": [{"part_no": "S-1", "qty": 1}]}
REPORT = {"summary": "Seal replaced", "root_cause": "wear", "outcome": "resolved"}
REASON = {"reason": "asked by the authorization matrix"}
# a type rarely recorded: its deliveries (to a port nothing listens on) stay few
WEBHOOK = {
    "url": "http://127.0.0.1:9/hook",
    "event_types": ["fieldcrew.documents.ShareLinkRevoked.v1"],
}


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    target: str
    expected: dict[str, int]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.target}"

    @property
    def services(self) -> tuple[str, ...]:
        """The services that serve this operation when called directly."""
        if self.path.startswith("/webhooks"):
            return ("aggregator",)
        if "/share-links" in self.path or self.path.endswith(".pdf"):
            return ("documents",)
        if self.path.endswith(("/timeline", "/revisions")):
            return ("aggregator",)
        if self.path.endswith(("/notes", "/report", "/start")):
            return ("team",)
        if self.path.endswith(("/cancel", "/crew", "/reject", "/events")):
            return ("dispatch",)
        if "/photos" in self.path:
            return ("photos",)
        if self.method == "POST":
            return ("dispatch",)
        if self.path == "/work-orders/{wo}":  # the gateway asks the aggregator; dispatch has it too
            return ("aggregator", "dispatch")
        return ("aggregator",)


def parse(table: str) -> list[Row]:
    lines = [line.split() for line in table.strip().splitlines()]
    assert tuple(lines[0][3:]) == ROLES
    return [Row(m, p, t, dict(zip(ROLES, map(int, s), strict=True))) for m, p, t, *s in lines[1:]]


ROWS = parse(MATRIX)
CELLS = len(ROWS) * len(ROLES)


@dataclass
class World:
    """The people, their tokens and two completed work orders of two crews. Work orders are
    set up straight at dispatch by a dispatcher of their own, so that the set-up traffic does
    not spend the rate limit of the people under test."""

    people: dict[str, str]
    tokens: dict[str, str]
    crews: dict[str, dict[str, object]]
    gateway: httpx.AsyncClient
    dispatch: httpx.AsyncClient
    log: EventStore
    wo: dict[str, str] = field(default_factory=dict)
    photo: dict[str, str] = field(default_factory=dict)
    hook: dict[str, str] = field(default_factory=dict)  # H: a registered webhook, X: none
    seeds: itertools.count[int] = field(default_factory=itertools.count)

    def auth(self, column: str) -> dict[str, str]:
        user = self.people.get(column)
        return {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}

    async def issue(self, crew: str) -> str:
        """A fresh work order of ``crew``; with ``!``, its leader's report submitted."""
        body = {"title": "Pump leaks", "crew": self.crews[crew.rstrip("!")]}
        r = await self.dispatch.post("/work-orders", json=body, headers=self.auth("setup"))
        assert r.status_code == 201, r.text
        wo = str(r.json()["id"])
        if crew.endswith("!"):
            leader = {"A": "leader", "B": "tech_b"}[crew.rstrip("!")]
            r = await self.gateway.post(
                f"/work-orders/{wo}/report", json=REPORT, headers=self.auth(leader)
            )
            assert r.status_code == 201, r.text
        return wo

    async def share(self, wo: str) -> str:
        """A share link of ``wo`` made by the set-up admin (a random id where there is none)."""
        if wo not in self.wo.values() or wo == self.wo.get("X"):
            return str(uuid4())
        r = await self.gateway.post(
            f"/work-orders/{wo}/share-links",
            json={"expires_in_hours": 1},
            headers=self.auth("setup"),
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def upload(self, client: httpx.AsyncClient, wo: str, column: str) -> httpx.Response:
        files = {"file": ("p.jpg", jpeg(seed=next(self.seeds)), "image/jpeg")}
        return await client.post(
            f"/work-orders/{wo}/photos", files=files, headers=self.auth(column)
        )


async def complete(world: World, crew: str, people: list[str]) -> tuple[str, str]:
    """Issue a work order to ``crew``, play notes, photos and the report until its server report
    is compiled; return its id and the id of the leader's photo."""
    wo = await world.issue(crew)
    async with ReportWatcher(world.log, wo) as watcher:
        photos = []
        for column in people:
            r = await world.gateway.post(
                f"/work-orders/{wo}/notes", json=NOTE, headers=world.auth(column)
            )
            assert r.status_code == 201, r.text
            r = await world.upload(world.gateway, wo, column)
            assert r.status_code == 201, r.text
            photos.append(r.json()["id"])
        r = await world.gateway.post(
            f"/work-orders/{wo}/report", json=REPORT, headers=world.auth(people[0])
        )
        assert r.status_code == 201, r.text
        await watcher.revision(1)
    return wo, photos[0]


@pytest.fixture(scope="module")
async def world(stack: Stack, infra: Infra, token: TokenFactory) -> AsyncIterator[World]:
    tag = uuid4().hex[:8]
    people = {
        "dispatcher": f"dora-{tag}",
        "admin": f"adam-{tag}",
        "leader": f"lena-{tag}",
        "member": f"max-{tag}",
        "member2": f"ida-{tag}",
        "tech_b": f"tess-{tag}",
        "member_b": f"bob-{tag}",
        "analyst": f"ana-{tag}",
        "setup": f"sam-{tag}",
    }
    roles = {"dispatcher": "dispatcher", "admin": "admin", "analyst": "analyst", "setup": "admin"}
    tokens = {user: token(user, roles.get(col, "technician")) for col, user in people.items()}
    crews: dict[str, dict[str, object]] = {
        "A": {"leader": people["leader"], "members": [people["member"], people["member2"]]},
        "B": {"leader": people["tech_b"], "members": [people["member_b"]]},
    }
    nc = await connect(infra.nats_url, name="authz-matrix")
    base = f"{stack.env['FIELDCREW_GATEWAY_URL']}/api/v1"
    dispatch = f"http://127.0.0.1:{stack.ports['dispatch']}"
    async with (
        httpx.AsyncClient(base_url=base, timeout=30) as gateway,
        httpx.AsyncClient(base_url=dispatch, timeout=30) as direct,
    ):
        world = World(people, tokens, crews, gateway, direct, EventStore(nc, source="tests"))
        world.wo["A"], world.photo["a"] = await complete(
            world, "A", ["leader", "member", "member2"]
        )
        world.wo["B"], world.photo["b"] = await complete(world, "B", ["tech_b", "member_b"])
        world.wo["X"] = str(uuid4())
        r = await gateway.post("/webhooks", json=WEBHOOK, headers=world.auth("setup"))
        assert r.status_code == 201, r.text
        world.hook = {"H": r.json()["id"], "X": str(uuid4())}
        yield world
    await nc.drain()


async def last_seq(log: EventStore, subject: str) -> int:
    record = await log.last(subject)
    return record.seq if record else 0


async def written_since(log: EventStore, subject: str, seq: int) -> list[Recorded]:
    """What was recorded on ``subject`` after ``seq``, but the rendition worker's events: it
    records a photo's copies on its own time after the upload (ADR 0050), not for a call."""
    written = []
    for raw in await log.read(subject, seq + 1):
        with suppress(PoisonEventError):  # other tests' poison on the dispatch subjects
            record = raw.decoded()
            if not record.event.name.startswith("PhotoRendition"):
                written.append(record)
    return written


async def send(
    world: World,
    client: httpx.AsyncClient,
    row: Row,
    column: str,
    wo: str,
    photo: str,
    link: str = "",
) -> httpx.Response:
    path = row.path.format(wo=wo, photo=photo, link=link, hook=world.hook.get(row.target, ""))
    headers = {**world.auth(column), "Idempotency-Key": uuid4().hex}
    if row.method == "GET" and path.endswith("/events"):  # a stream: its head is the answer
        async with client.stream("GET", path, headers=world.auth(column)) as streamed:
            if streamed.status_code != 200:
                await streamed.aread()
            return streamed
    if row.method == "GET":
        return await client.get(path, headers=world.auth(column))
    if row.method == "DELETE":
        return await client.delete(path, headers=world.auth(column))
    if path.endswith("/share-links"):
        return await client.post(path, json={"expires_in_hours": 1}, headers=headers)
    if path.endswith("/photos"):
        files = {"file": ("p.jpg", jpeg(seed=next(world.seeds)), "image/jpeg")}
        return await client.post(path, files=files, headers=headers)
    people = world.people
    body = {
        "/notes": NOTE,
        "/report": REPORT,
        "/work-orders": {"title": "Guess", "crew": world.crews["A"]},
        "/start": {},
        "/cancel": REASON,
        "/reject": REASON,
        "/crew": {"leader": people["member"], "members": [people["leader"]]},
        "/webhooks": WEBHOOK,
    }["/" + path.rsplit("/", 1)[-1]]
    return await client.request(row.method, path, json=body, headers=headers)


async def run_cell(world: World, client: httpx.AsyncClient, row: Row, column: str) -> str | None:
    """Play one cell; None when it holds, else what went wrong."""
    wo_target, _, photo_owner = row.target.partition("/")
    # a share link is of a compiled report: shared from the completed work orders
    fresh = row.method != "GET" and wo_target in ("A", "B", "A!") and "/share-links" not in row.path
    wo = await world.issue(wo_target) if fresh else world.wo.get(wo_target, "")
    link = await world.share(wo) if "{link}" in row.path else ""
    watched = f"fieldcrew.*.{wo}.>" if wo else "fieldcrew.dispatch.*.WorkOrderIssued"
    if row.path.startswith("/webhooks"):
        watched = "fieldcrew.aggregator.*.WebhookRegistered"
    before = await last_seq(world.log, watched)
    r = await send(world, client, row, column, wo, world.photo.get(photo_owner, ""), link)
    written = await written_since(world.log, watched, before)
    expected = row.expected[column]
    if r.status_code != expected:
        return f"{column}: {r.status_code} (expected {expected}) {r.text[:160]}"
    if r.status_code >= 400 and (written or "code" not in r.json().get("error", {})):
        return f"{column}: refused with {r.status_code} but the log moved or the body is wrong"
    ours = row.method != "GET" and r.status_code < 300
    if ours and (not written or written[-1].envelope.actor != world.people[column]):
        return f"{column}: {r.status_code} but no event by {world.people[column]} was written"
    return None


@pytest.mark.parametrize("row", ROWS, ids=str)
async def test_through_the_gateway(world: World, row: Row) -> None:
    failed = [
        problem
        for column in ROLES
        if (problem := await run_cell(world, world.gateway, row, column)) is not None
    ]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("row", ROWS, ids=str)
async def test_straight_at_the_service(world: World, stack: Stack, row: Row) -> None:
    failed = []
    for service in row.services:
        base = f"http://127.0.0.1:{stack.ports[service]}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for column in ROLES:
                if (problem := await run_cell(world, client, row, column)) is not None:
                    failed.append(f"{service} {problem}")
    assert not failed, "\n".join(failed)


async def test_each_caller_sees_only_their_own(world: World) -> None:
    """Object-level reads: lists hold only what the caller may see, notes only the caller's."""
    a, b = world.wo["A"], world.wo["B"]

    async def listed(column: str) -> set[str]:
        r = await world.gateway.get("/work-orders?limit=500", headers=world.auth(column))
        return {w["id"] for w in r.json()} & {a, b}

    assert await listed("leader") == await listed("member") == {a}
    assert await listed("tech_b") == {b}
    assert await listed("dispatcher") == await listed("analyst") == {a, b}

    async def authors(column: str) -> list[str]:
        r = await world.gateway.get(f"/work-orders/{a}/notes", headers=world.auth(column))
        return sorted(n["author"] for n in r.json())

    crew_a = sorted(world.people[c] for c in ("leader", "member", "member2"))
    assert await authors("leader") == crew_a
    assert await authors("member") == [world.people["member"]]
    photos = await world.gateway.get(f"/work-orders/{a}/photos", headers=world.auth("member"))
    assert {p["work_order_id"] for p in photos.json()} == {a} and len(photos.json()) == 3


@pytest.mark.parametrize("role", ["dispatcher", "admin", "analyst"])
async def test_an_office_token_whose_sub_is_on_the_crew_does_not_act_as_crew(
    world: World, token: TokenFactory, role: str
) -> None:
    """The crew acts with technician tokens: the leader's id in an office token neither writes
    nor reads the crew's notes."""
    wo = await world.issue("A")
    disguised = {"Authorization": f"Bearer {token(world.people['leader'], role)}"}
    before = await last_seq(world.log, f"fieldcrew.*.{wo}.>")
    files = {"file": ("p.jpg", jpeg(seed=next(world.seeds)), "image/jpeg")}
    answers = [
        await world.gateway.post(f"/work-orders/{wo}/notes", json=NOTE, headers=disguised),
        await world.gateway.post(f"/work-orders/{wo}/report", json=REPORT, headers=disguised),
        await world.gateway.post(f"/work-orders/{wo}/photos", files=files, headers=disguised),
        await world.gateway.get(f"/work-orders/{wo}/notes", headers=disguised),
    ]
    assert [r.status_code for r in answers] == [403, 403, 403, 403]
    assert await last_seq(world.log, f"fieldcrew.*.{wo}.>") == before


# Offline sync (POST /sync) answers 200 to any valid token with one result per action: each
# action is authorized as the caller, as its own call would be. A cell is the action's status,
# or its rejection's code; ``401`` is the whole request's.
SYNC_MATRIX = """
type   target dispatcher admin     leader  member    tech_b    analyst   no_token
note   A      forbidden  forbidden applied applied   forbidden forbidden 401
note   X      not_found  not_found not_found not_found not_found not_found 401
report A      forbidden  forbidden applied forbidden forbidden forbidden 401
start  A      forbidden  forbidden applied forbidden forbidden forbidden 401
"""
SYNC_ROWS = [line.split() for line in SYNC_MATRIX.strip().splitlines()[1:]]
SYNC_BODIES = {"note": NOTE, "report": REPORT, "start": {}}


async def sync_cell(
    world: World, client: httpx.AsyncClient, kind: str, target: str, column: str, expected: str
) -> str | None:
    wo = await world.issue(target) if target == "A" else str(uuid4())
    watched = f"fieldcrew.*.{wo}.>"
    before = await last_seq(world.log, watched)
    act = {
        "id": str(uuid4()),
        "type": kind,
        "work_order_id": wo,
        "occurred_at": "2026-12-02T08:00:00+00:00",
        "body": SYNC_BODIES[kind],
    }
    r = await client.post("/sync", json={"actions": [act]}, headers=world.auth(column))
    after = await last_seq(world.log, watched)
    if expected == "401":
        return None if r.status_code == 401 and after == before else f"{column}: {r.text[:120]}"
    if r.status_code != 200:
        return f"{column}: {r.status_code} {r.text[:160]}"
    [result] = r.json()["results"]
    got = result["status"] if result["status"] == "applied" else result["code"]
    if got != expected:
        return f"{column}: {got} (expected {expected})"
    if (after != before) != (got == "applied"):
        return f"{column}: {got} but the log {'moved' if after != before else 'did not move'}"
    return None


@pytest.mark.parametrize("via", ["gateway", "team"])
@pytest.mark.parametrize("row", SYNC_ROWS, ids=lambda r: f"{r[0]} {r[1]}")
async def test_each_offline_action_is_authorized_as_the_caller(
    world: World, stack: Stack, via: str, row: list[str]
) -> None:
    kind, target, *cells = row
    failed = []
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{stack.ports['team']}", timeout=30
    ) as direct:
        client = world.gateway if via == "gateway" else direct
        for column, expected in zip(ROLES, cells, strict=True):
            if (
                problem := await sync_cell(world, client, kind, target, column, expected)
            ) is not None:
                failed.append(problem)
    assert not failed, "\n".join(failed)
