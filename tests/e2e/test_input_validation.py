"""Bad input is refused before anything is stored, through the gateway and straight at each
service: every body is a strict model with limits (unknown fields, leader-only and server-only
fields are 422), ids are UUIDs, and an ``Idempotency-Key`` retry returns the first answer and
writes nothing, while the same key with another body is 422 ``idempotency_key_reused``."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest
from fieldcrew_cli.stack import Stack
from fieldcrew_shared.eventstore import EventStore

from tests.e2e.conftest import Crew, issue
from tests.images import jpeg

SERVICE = {
    **{"issue": "dispatch", "note": "team", "report": "team", "photo": "photos"},
    **{"start": "team", "cancel": "dispatch", "crew": "dispatch", "reject": "dispatch"},
}
PATHS = {
    **{"note": "notes", "report": "report", "photo": "photos", "start": "start"},
    **{"cancel": "cancel", "crew": "crew", "reject": "report/reject"},
}
NOTE: dict[str, Any] = {"findings": "seal worn", "parts": [{"part_no": "S-1", "qty": 2}]}
REPORT: dict[str, Any] = {"summary": "Seal replaced", "outcome": "resolved"}
LONG, UID = "x" * 10_001, "00000000-0000-4000-8000-000000000000"


def issue_body(crew: Crew, **change: Any) -> dict[str, Any]:
    return {"title": "Pump", "crew": {"leader": crew.leader, "members": crew.members}, **change}


def with_part(**part: Any) -> dict[str, Any]:
    return {**NOTE, "parts": [{"part_no": "S-1", "qty": 1, **part}]}


# (what is sent, a change to the valid body): each one is 422 and writes nothing.
INVALID: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "issue": [
        ("empty title", {"title": ""}),
        ("blank title", {"title": "   "}),
        ("title over 200", {"title": "t" * 201}),
        ("description over 10 000", {"description": LONG}),
        ("site over 200", {"site": "s" * 201}),
        ("site without an address", {"site": {"name": "Plant 2"}}),
        ("site with a blank name", {"site": {"name": " ", "address": "Main St 1"}}),
        ("site lat without lon", {"site": {"name": "P", "address": "A", "lat": 48.1}}),
        ("site lat over 90", {"site": {"name": "P", "address": "A", "lat": 91.0, "lon": 9.0}}),
        ("site lat as text", {"site": {"name": "P", "address": "A", "lat": "48", "lon": 9.0}}),
        ("unknown site field", {"site": {"name": "P", "address": "A", "floor": 3}}),
        ("site as a number", {"site": 7}),
        ("asset without an id", {"asset": {"model": "CR 15"}}),
        ("asset id with a newline", {"asset": {"id": "P\n104"}}),
        ("customer without a name", {"customer": {"phone": "+49 711 1"}}),
        ("customer phone with letters", {"customer": {"name": "Acme", "phone": "call me"}}),
        ("customer email without @", {"customer": {"name": "Acme", "email": "acme.example"}}),
        ("customer as text", {"customer": "Acme"}),
        ("unknown priority", {"priority": "critical"}),
        ("due_at not a date", {"due_at": "next week"}),
        ("due_at without an offset", {"due_at": "2026-12-01T10:00:00"}),
        ("no crew", {"crew": None}),
        ("empty leader", {"crew": {"leader": "", "members": []}}),
        ("51 members", {"crew": {"leader": "l", "members": [f"m{i}" for i in range(51)]}}),
        ("member id over 64", {"crew": {"leader": "l", "members": ["m" * 65]}}),
        ("member id with a newline", {"crew": {"leader": "l", "members": ["a\nb"]}}),
        ("leader among members", {"crew": {"leader": "l", "members": ["l"]}}),
        ("member twice", {"crew": {"leader": "l", "members": ["m", "m"]}}),
        ("unknown crew field", {"crew": {"leader": "l", "deputy": "d"}}),
        ("min photos -1", {"min_photos_per_member": -1}),
        ("min photos 51", {"min_photos_per_member": 51}),
        ("min photos as text", {"min_photos_per_member": "1"}),
        ("min photos as bool", {"min_photos_per_member": True}),
        ("min photos 1.5", {"min_photos_per_member": 1.5}),
        ("NUL in the title", {"title": "pump\x00"}),
    ],
    "note": [
        ("findings over 10 000", {"findings": LONG}),
        ("actions over 10 000", {"actions": LONG}),
        ("201 parts", {"parts": [{"part_no": f"P{i}", "qty": 1} for i in range(201)]}),
        ("qty 0", with_part(qty=0)),
        ("qty over 100 000", with_part(qty=100_001)),
        ("qty as text", with_part(qty="2")),
        ("qty 1.5", with_part(qty=1.5)),
        ("empty part_no", with_part(part_no="")),
        ("part_no over 64", with_part(part_no="P" * 65)),
        ("unknown part field", with_part(price=10)),
        ("parts not a list", {"parts": {"part_no": "S-1", "qty": 1}}),
        ("labour -1", {"labour_minutes": -1}),
        ("labour over a week", {"labour_minutes": 7 * 24 * 60 + 1}),
        ("labour as text", {"labour_minutes": "45"}),
        ("NUL in findings", {"findings": "seal\x00worn"}),
        ("terminal escape in findings", {"findings": "\x1b[2Jseal"}),
    ],
    "report": [
        ("no summary", {"summary": None}),
        ("blank summary", {"summary": "  "}),
        ("summary over 10 000", {"summary": LONG}),
        ("root cause over 10 000", {"root_cause": LONG}),
        ("unknown outcome", {"outcome": "great"}),
        ("no outcome", {"outcome": None}),
        ("note id not a UUID", {"note_ids": ["note-1"]}),
        ("note id a number", {"note_ids": [1]}),
        ("501 note ids", {"note_ids": [str(uuid4()) for _ in range(501)]}),
        ("501 parts", {"parts": [{"part_no": f"P{i}", "qty": 1} for i in range(501)]}),
        ("NUL in summary", {"summary": "done\x00"}),
    ],
    "start": [("a field", {"at": "2026-12-02T08:00:00Z"})],
    "cancel": [
        ("no reason", {"reason": None}),
        ("blank reason", {"reason": "   "}),
        ("reason over 2 000", {"reason": "r" * 2001}),
        ("NUL in the reason", {"reason": "off\x00"}),
        ("unknown field", {"refund": True}),
    ],
    "crew": [
        ("no leader", {"leader": None}),
        ("leader among members", {"members": ["SELF"]}),
        ("member twice", {"members": ["m", "m"]}),
        ("51 members", {"members": [f"m{i}" for i in range(51)]}),
        ("unknown field", {"deputy": "d"}),
    ],
    "reject": [
        ("no reason", {"reason": None}),
        ("reason as a number", {"reason": 7}),
        ("unknown field", {"version": 1}),
    ],
    "photo": [  # form fields beside a valid image
        ("caption over 500", {"caption": "c" * 501}),
        ("NUL in the caption", {"caption": "after\x00"}),
        ("unknown phase", {"phase": "later"}),
    ],
}
# Fields only the server (or only the leader, through the report) sets.
MASS_ASSIGNMENT = {
    "issue": ["id", "work_order_id", "issued_by", "issued_at", "status", "revision", "outcome"],
    "note": [
        *("author", "id", "note_id", "work_order_id", "recorded_at", "outcome", "leader"),
        "after_report",
    ],
    "report": [
        *("leader", "merged_note_ids", "labour_minutes", "id", "report_id", "revision"),
        *("recorded_at", "author", "work_order_id", "version", "report_version", "lines"),
    ],
    "photo": ["uploader", "uploader_role", "sha256", "id", "work_order_id", "duplicate"],
    "start": ["started_by", "started_at", "status"],
    "cancel": ["cancelled_by", "status"],
    "crew": ["change", "previous", "changed_by"],
    "reject": ["rejected_by", "report_version", "report_id"],
}
VIA = ["gateway", "service"]


def drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


async def post(
    stack: Stack, via: str, kind: str, wo: str, headers: dict[str, str], **send: Any
) -> httpx.Response:
    base = (
        f"{stack.env['FIELDCREW_GATEWAY_URL']}/api/v1"
        if via == "gateway"
        else f"http://127.0.0.1:{stack.ports[SERVICE[kind]]}"
    )
    path = "/work-orders" if kind == "issue" else f"/work-orders/{wo}/{PATHS[kind]}"
    method = "PUT" if kind == "crew" else "POST"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        return await client.request(method, path, headers=headers, **send)


async def last_seq(log: EventStore, subject: str) -> int:
    record = await log.last(subject)
    return record.seq if record else 0


def watched(kind: str, wo: str) -> str:
    return "fieldcrew.dispatch.*.WorkOrderIssued" if kind == "issue" else f"fieldcrew.*.{wo}.>"


def sender(crew: Crew, kind: str) -> str:
    office = {"issue", "cancel", "crew", "reject"}
    return (
        crew.dispatcher
        if kind in office
        else {"report": crew.leader, "start": crew.leader}.get(kind, crew.members[0])
    )


def valid(crew: Crew, kind: str) -> dict[str, Any]:
    reason = {"reason": "asked by the test"}
    return {
        **{"issue": issue_body(crew), "note": NOTE, "report": REPORT, "photo": {}},
        **{"start": {}, "cancel": reason, "reject": reason},
        "crew": {"leader": crew.members[0], "members": [crew.leader]},
    }[kind]


async def send_body(
    stack: Stack, via: str, kind: str, wo: str, crew: Crew, body: dict[str, Any]
) -> httpx.Response:
    """``body`` as JSON, or for a photo as the form fields beside a fresh image."""
    headers = crew.auth(sender(crew, kind))
    if kind != "photo":
        return await post(stack, via, kind, wo, headers, json=body)
    files = {"file": ("p.jpg", jpeg(seed=hash((wo, str(body))) % 100_000), "image/jpeg")}
    return await post(stack, via, kind, wo, headers, files=files, data=body)


CASES = [(kind, what, change) for kind, cases in INVALID.items() for what, change in cases]


@pytest.mark.parametrize("via", VIA)
@pytest.mark.parametrize(("kind", "what", "change"), CASES, ids=[c[1] for c in CASES])
async def test_invalid_bodies_are_refused_and_nothing_is_written(
    api: httpx.AsyncClient,
    stack: Stack,
    crew: Crew,
    log: EventStore,
    via: str,
    kind: str,
    what: str,
    change: dict[str, Any],
) -> None:
    wo = await issue(api, crew)
    before = await last_seq(log, watched(kind, wo))
    body = drop_none({**valid(crew, kind), **change})
    if body.get("members") == ["SELF"]:
        body["members"] = [body["leader"]]
    r = await send_body(stack, via, kind, wo, crew, body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] in ("invalid_request", "invalid")
    assert await last_seq(log, watched(kind, wo)) == before


MASS = [(kind, field) for kind, fields in MASS_ASSIGNMENT.items() for field in fields]


@pytest.mark.parametrize("via", VIA)
@pytest.mark.parametrize(("kind", "field"), MASS, ids=[f"{k}.{f}" for k, f in MASS])
async def test_server_and_leader_only_fields_cannot_be_set(
    api: httpx.AsyncClient,
    stack: Stack,
    crew: Crew,
    log: EventStore,
    via: str,
    kind: str,
    field: str,
) -> None:
    """Mass assignment: a member cannot name themselves leader or author, pick the merged
    notes, or set an id, an uploader or a revision; the body is refused whole."""
    wo = await issue(api, crew)
    before = await last_seq(log, watched(kind, wo))
    value: Any = [UID] if field == "merged_note_ids" else crew.leader
    r = await send_body(stack, via, kind, wo, crew, {**valid(crew, kind), field: value})
    assert r.status_code == 422, r.text
    assert await last_seq(log, watched(kind, wo)) == before


# Malformed ids, queries and headers: 422 at the gateway and at every service serving them.
MALFORMED = [
    ("GET", "/work-orders/not-a-uuid", {}, ("aggregator", "dispatch")),
    ("GET", "/work-orders/12345/notes", {}, ("team",)),
    ("POST", "/work-orders/12345/notes", {}, ("team",)),
    ("POST", "/work-orders/wo-1/report", {}, ("team",)),
    ("GET", f"/work-orders/{UID}/photos/photo-1", {}, ("photos",)),
    ("GET", f"/work-orders/{UID}/server-report?revision=0", {}, ("aggregator",)),
    ("GET", "/work-orders?limit=0", {}, ("aggregator",)),
    ("GET", "/work-orders?limit=501", {}, ("aggregator",)),
    ("GET", "/work-orders?offset=-1", {}, ("aggregator",)),
    ("GET", "/work-orders?status=lost", {}, ("aggregator",)),
    ("POST", "/work-orders", {"Idempotency-Key": "k" * 201}, ("dispatch",)),
    ("POST", f"/work-orders/{UID}/notes", {"Idempotency-Key": "k" * 201}, ("team",)),
    ("POST", f"/work-orders/{UID}/notes", {"X-Occurred-At": "yesterday"}, ("team",)),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "services"), MALFORMED, ids=[f"{m[0]} {m[1]}" for m in MALFORMED]
)
async def test_malformed_ids_queries_and_headers_are_422(
    stack: Stack,
    crew: Crew,
    method: str,
    path: str,
    headers: dict[str, str],
    services: tuple[str, ...],
) -> None:
    gateway = f"{stack.env['FIELDCREW_GATEWAY_URL']}/api/v1"
    bases = [gateway, *(f"http://127.0.0.1:{stack.ports[s]}" for s in services)]
    who = crew.leader if path.endswith(("/notes", "/report")) else crew.dispatcher
    body = (issue_body(crew) if path == "/work-orders" else NOTE) if method == "POST" else None
    for base in bases:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            auth = {**crew.auth(who), **headers}
            r = await client.request(method, path, headers=auth, json=body)
        assert r.status_code == 422, f"{base}{path}: {r.status_code} {r.text}"


@pytest.mark.parametrize("via", VIA)
@pytest.mark.parametrize("kind", ["issue", "note", "report"])
async def test_an_idempotent_retry_returns_the_first_answer_and_writes_nothing(
    api: httpx.AsyncClient, stack: Stack, crew: Crew, log: EventStore, via: str, kind: str
) -> None:
    wo = await issue(api, crew)
    headers = {**crew.auth(sender(crew, kind)), "Idempotency-Key": f"retry-{uuid4()}"}
    first = await post(stack, via, kind, wo, headers, json=valid(crew, kind))
    assert first.status_code == 201, first.text
    subject = watched(kind, first.json()["id"] if kind == "issue" else wo)
    written = await last_seq(log, subject)
    again = await post(stack, via, kind, wo, headers, json=valid(crew, kind))
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = {**valid(crew, kind), ("title" if kind == "issue" else "actions"): "something else"}
    reused = await post(stack, via, kind, wo, headers, json=other)
    assert reused.status_code == 422, reused.text
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert await last_seq(log, subject) == written


async def test_a_second_report_under_another_key_or_none_is_a_conflict(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    lead = crew.auth(crew.leader)
    first = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=lead)
    assert first.status_code == 201, first.text
    written = await last_seq(log, f"fieldcrew.*.{wo}.>")
    for key in ({"Idempotency-Key": "another"}, {}):
        r = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers={**lead, **key})
        assert r.status_code == 409, r.text
    assert await last_seq(log, f"fieldcrew.*.{wo}.>") == written


async def test_a_members_key_never_names_the_leaders_note_or_report(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    """Ids come from (work order, caller, key): a member sending the leader's key gets a note
    of their own, and can neither replay nor overwrite the leader's note or report."""
    wo = await issue(api, crew)
    key = {"Idempotency-Key": "the-leaders-key"}
    lead, member = {**crew.auth(crew.leader), **key}, {**crew.auth(crew.members[0]), **key}
    lead_note = await api.post(f"/work-orders/{wo}/notes", json=NOTE, headers=lead)
    mine = await api.post(f"/work-orders/{wo}/notes", json={"findings": "mine"}, headers=member)
    assert lead_note.status_code == mine.status_code == 201
    assert "Idempotent-Replayed" not in mine.headers and mine.json()["id"] != lead_note.json()["id"]
    assert (await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=lead)).is_success
    written = await last_seq(log, f"fieldcrew.*.{wo}.>")
    r = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=member)
    assert r.status_code == 403
    assert await last_seq(log, f"fieldcrew.*.{wo}.>") == written
    notes = (await api.get(f"/work-orders/{wo}/notes", headers=crew.auth(crew.leader))).json()
    by_id = {n["id"]: (n["author"], n["findings"]) for n in notes}
    assert by_id == {
        lead_note.json()["id"]: (crew.leader, NOTE["findings"]),
        mine.json()["id"]: (crew.members[0], "mine"),
    }


async def test_a_note_retried_after_the_report_is_still_its_first_answer(
    api: httpx.AsyncClient, crew: Crew
) -> None:
    wo = await issue(api, crew)
    headers = {**crew.auth(crew.members[0]), "Idempotency-Key": "note-1"}
    first = await api.post(f"/work-orders/{wo}/notes", json=NOTE, headers=headers)
    r = await api.post(f"/work-orders/{wo}/report", json=REPORT, headers=crew.auth(crew.leader))
    assert first.status_code == r.status_code == 201
    again = await api.post(f"/work-orders/{wo}/notes", json=NOTE, headers=headers)
    assert (again.status_code, again.json()) == (201, first.json())


async def test_the_leader_cannot_merge_another_work_orders_notes(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo, elsewhere = await issue(api, crew), await issue(api, crew)
    lead = crew.auth(crew.leader)
    foreign = await api.post(f"/work-orders/{elsewhere}/notes", json=NOTE, headers=lead)
    before = await last_seq(log, f"fieldcrew.*.{wo}.>")
    body = {**REPORT, "note_ids": [foreign.json()["id"]]}
    r = await api.post(f"/work-orders/{wo}/report", json=body, headers=lead)
    assert r.status_code == 422, r.text
    assert await last_seq(log, f"fieldcrew.*.{wo}.>") == before
