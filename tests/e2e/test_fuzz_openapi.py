"""Schemathesis against the running system: every operation of the gateway's OpenAPI document,
called with generated input through the real gateway and services, must answer without a
server error (5xx) and as documented (status code, content type, headers, body schema).

Four runs, each a bounded, derandomized number of examples per operation:

- as a dispatcher, with valid input and every parameter generated (ids too: mostly unknown
  work orders, while issuing work orders goes through);
- as a technician who leads a real work order, with valid input and ``work_order_id`` fixed to
  it, so that notes, the report and photos reach the team and photos services' rules;
- as a dispatcher with invalid input (schemathesis' negative mode: wrong types, missing
  fields, no token, bodies that are not JSON ...), which must be refused as documented.
- as a member of a completed work order (its server report compiled), the reads only, so that
  the documented bodies of a full report and a completed status are held to the real ones.

A client told 429 waits ``Retry-After`` and asks again, as clients should: the fuzzer may send
faster than the gateway's rate limit (20/s, burst 40). Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from fieldcrew_cli.stack import Stack
from fieldcrew_shared.eventstore import EventStore
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import TokenFactory, bearer
from tests.e2e.conftest import Crew, ReportWatcher, issue
from tests.images import jpeg

VALID_EXAMPLES = 25
INVALID_EXAMPLES = 10
READ_EXAMPLES = 10
WO = "/api/v1/work-orders/{work_order_id}"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
MAX_RATE_LIMITED_RETRIES = 5
# Headers that frame the HTTP message itself: random values there make a malformed request,
# refused by the HTTP server (uvicorn's plain-text 400) before the API is reached, so they
# are no API input (the HTTP layer's limits are tested in test_gateway_limits.py).
FRAMING_HEADERS = frozenset(
    {"connection", "content-length", "expect", "host", "keep-alive", "te", "trailer"}
    | {"transfer-encoding", "upgrade"}
)
PathParameters = Callable[[schemathesis.APIOperation], dict[str, str]]


@dataclass
class Tally:
    """What one run did: examples per operation, statuses, 429s waited out, failures."""

    examples: dict[str, int] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    successes: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    failures: dict[str, str] = field(default_factory=dict)

    def report(self, name: str) -> str:
        lines = [
            f"{name}: {len(self.examples)} operations, {sum(self.examples.values())} examples,"
            f" {len(self.failures)} failing, {self.rate_limited} rate-limited (waited),"
            f" statuses {dict(sorted(self.statuses.items()))}",
            *(f"  {label}: {count}" for label, count in self.examples.items()),
            *(f"FAILED {label}\n{why}" for label, why in self.failures.items()),
        ]
        return "\n".join(lines)


@dataclass
class Client:
    """Sends generated cases to the gateway as one user, honouring 429's ``Retry-After``."""

    url: str
    auth: dict[str, str]
    tally: Tally = field(default_factory=Tally)
    methods: frozenset[str] = frozenset({"GET", "POST"})
    session: requests.Session = field(default_factory=requests.Session)

    def send(self, case: schemathesis.Case) -> schemathesis.Response:
        for _ in range(MAX_RATE_LIMITED_RETRIES):
            response = case.call(base_url=self.url, session=self.session, headers=self.auth)
            if response.status_code != 429:
                break
            self.tally.rate_limited += 1
            (retry_after,) = response.headers["retry-after"]  # lowercase name: list of values
            time.sleep(int(retry_after))  # as the server asked
        self.tally.statuses[response.status_code] += 1
        if response.status_code < 300:
            self.tally.successes[case.operation.label] += 1
        return response


def operation_test(
    operation: schemathesis.APIOperation, strategy: Any, client: Client, examples: int
) -> Callable[[], None]:
    """A Hypothesis test sending ``examples`` cases of ``operation`` and checking each."""
    label = operation.label
    client.tally.examples[label] = 0

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: CI stays bounded
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        client.tally.examples[label] += 1
        case.validate_response(client.send(case), checks=CHECKS)

    return run


def streams(operation: schemathesis.APIOperation) -> bool:
    """A Server-Sent Events stream never ends, so it cannot be called like the rest:
    tests/e2e/test_live_updates.py plays those."""
    responses = operation.definition.raw.get("responses", {})
    return "text/event-stream" in responses.get("200", {}).get("content", {})


def frames_http_normally(case: schemathesis.Case) -> bool:
    return not FRAMING_HEADERS & {name.lower() for name in case.headers or {}}


def fuzz(
    schema: schemathesis.BaseSchema,
    client: Client,
    mode: GenerationMode,
    examples: int,
    path_parameters: PathParameters = lambda _: {},
) -> Tally:
    """Run every operation of ``schema``; a failing operation is recorded and the others
    still run."""
    with client.session:
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.method.upper() not in client.methods or streams(operation):
                continue
            strategy = operation.as_strategy(
                mode, path_parameters=path_parameters(operation)
            ).filter(frames_http_normally)
            try:
                operation_test(operation, strategy, client, examples)()
            except (AssertionError, FailureGroup) as exc:
                client.tally.failures[operation.label] = f"{type(exc).__name__}: {exc}"
    return client.tally


def assert_clean(tally: Tally, name: str, operations: int = 11) -> None:
    print(tally.report(name))
    assert len(tally.examples) >= operations, "every documented operation was fuzzed"
    assert all(tally.examples.values()), tally.report(name)
    assert not tally.failures, tally.report(name)


@pytest.fixture(scope="module")
def gateway_url(stack: Stack) -> str:
    return stack.env["FIELDCREW_GATEWAY_URL"]


@pytest.fixture(scope="module")
def schema(gateway_url: str) -> schemathesis.BaseSchema:
    """The OpenAPI document the running gateway serves."""
    return schemathesis.openapi.from_url(f"{gateway_url}/openapi.json")


def test_fuzz_valid_input_as_a_dispatcher(
    schema: schemathesis.BaseSchema, gateway_url: str, token: TokenFactory
) -> None:
    client = Client(gateway_url, bearer(token(f"fuzz-dora-{uuid4().hex[:6]}", "dispatcher")))
    assert_clean(fuzz(schema, client, GenerationMode.POSITIVE, VALID_EXAMPLES), "dispatcher")


@pytest.fixture
def led_work_order(gateway_url: str, token: TokenFactory) -> Iterator[tuple[str, str]]:
    """A technician and the id of a work order they lead."""
    tag = uuid4().hex[:6]
    leader = f"fuzz-lena-{tag}"
    body = {"title": "Fuzzed pump", "crew": {"leader": leader, "members": [f"fuzz-max-{tag}"]}}
    answer = requests.post(
        f"{gateway_url}/api/v1/work-orders",
        json=body,
        headers=bearer(token(f"fuzz-dora-{tag}", "dispatcher")),
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    yield leader, answer.json()["id"]


def test_fuzz_valid_input_as_the_leader_of_a_work_order(
    schema: schemathesis.BaseSchema,
    gateway_url: str,
    token: TokenFactory,
    led_work_order: tuple[str, str],
) -> None:
    leader, work_order_id = led_work_order
    client = Client(gateway_url, bearer(token(leader, "technician")))
    parameters = on_work_order(work_order_id)
    tally = fuzz(schema, client, GenerationMode.POSITIVE, VALID_EXAMPLES, parameters)
    assert_clean(tally, "leader")
    assert tally.successes[f"POST {WO}/notes"] > 0, "generated notes were accepted"


def test_fuzz_invalid_input_as_a_dispatcher(
    schema: schemathesis.BaseSchema, gateway_url: str, token: TokenFactory
) -> None:
    client = Client(gateway_url, bearer(token(f"fuzz-dora-{uuid4().hex[:6]}", "dispatcher")))
    tally = fuzz(schema, client, GenerationMode.NEGATIVE, INVALID_EXAMPLES)
    assert_clean(tally, "invalid input")


def on_work_order(work_order_id: str) -> PathParameters:
    """Path parameters that put every case on ``work_order_id``."""

    def parameters(operation: schemathesis.APIOperation) -> dict[str, str]:
        names = {p.name for p in operation.path_parameters}
        return {"work_order_id": work_order_id} if "work_order_id" in names else {}

    return parameters


async def complete(api: httpx.AsyncClient, crew: Crew, log: EventStore) -> str:
    """A work order whose server report is compiled: a note and a photo from everyone, the
    leader's report, and ``ServerReportCompiled`` seen in the log."""
    work_order_id = await issue(api, crew, min_photos_per_member=1)
    async with ReportWatcher(log, work_order_id) as watcher:
        for seed, who in enumerate(crew.everyone):
            note = {"findings": f"seen by {who}", "parts": [{"part_no": "SEAL-40", "qty": 1}]}
            answer = await api.post(
                f"/work-orders/{work_order_id}/notes", json=note, headers=crew.auth(who)
            )
            assert answer.status_code == 201, answer.text
            photo = {"file": ("p.jpg", jpeg(seed=7000 + seed), "image/jpeg")}
            answer = await api.post(
                f"/work-orders/{work_order_id}/photos", files=photo, headers=crew.auth(who)
            )
            assert answer.status_code == 201, answer.text
        report = {"summary": "Seal replaced", "outcome": "resolved"}
        answer = await api.post(
            f"/work-orders/{work_order_id}/report", json=report, headers=crew.auth(crew.leader)
        )
        assert answer.status_code == 201, answer.text
        await watcher.revision(1)
    return work_order_id


async def test_fuzz_reads_of_a_completed_work_order_as_a_member(
    schema: schemathesis.BaseSchema,
    gateway_url: str,
    api: httpx.AsyncClient,
    crew: Crew,
    log: EventStore,
) -> None:
    work_order_id = await complete(api, crew, log)
    client = Client(gateway_url, crew.auth(crew.members[0]), methods=frozenset({"GET"}))
    parameters = on_work_order(work_order_id)
    # requests is blocking: in a thread, so this test's event loop (and NATS) keeps running
    tally = await asyncio.to_thread(
        fuzz, schema, client, GenerationMode.POSITIVE, READ_EXAMPLES, parameters
    )
    assert_clean(tally, "completed work order, reads", operations=7)
    for read in ("", "/server-report"):
        assert tally.successes[f"GET {WO}{read}"] > 0, "a full body was checked"
