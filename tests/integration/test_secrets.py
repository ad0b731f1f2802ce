"""No secret reaches a log: a whole crew flow (and its refusals) through a system of five
service processes logging at DEBUG, then every service log is searched for every bearer token
used, every NATS and S3 password, the JWT private key and the presigned URLs' signatures.
Also: the redaction every log line passes, on its own.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import httpx
import pytest
from fieldcrew_cli.servers import Infra
from fieldcrew_cli.stack import SERVICES, Stack
from fieldcrew_shared.events import PhotoRenditionsMade
from fieldcrew_shared.eventstore import EventStore, connect
from fieldcrew_shared.logs import JsonFormatter, redact

from tests.conftest import AUDIENCE, ISSUER, TokenFactory, bearer
from tests.e2e.conftest import ReportWatcher
from tests.forge import Signer, forgeries
from tests.images import jpeg
from tests.integration.test_forged_tokens import own_stack
from tests.renditions import rendition_outcome

DEBUG = {"FIELDCREW_LOG_LEVEL": "DEBUG"}


@pytest.fixture(scope="module")
def system(
    infra: Infra, keys: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with own_stack(infra, keys[1], tmp_path_factory.mktemp("secrets-logs"), DEBUG) as stack:
        yield stack


@pytest.fixture
async def log(infra: Infra) -> AsyncIterator[EventStore]:
    nc = await connect(infra.nats_url, name="secrets-reader")
    yield EventStore(nc, source="tests")
    await nc.drain()


class Crew:
    """A dispatcher, a leader and two members, with the tokens the test hands out."""

    def __init__(self, token: TokenFactory) -> None:
        tag = uuid4().hex[:8]
        self.dispatcher, self.leader = f"dora-{tag}", f"lena-{tag}"
        self.members = [f"max-{tag}", f"ida-{tag}"]
        self.tokens = {p: token(p) for p in (self.leader, *self.members)}
        self.tokens[self.dispatcher] = token(self.dispatcher, "dispatcher")

    def auth(self, who: str) -> dict[str, str]:
        return bearer(self.tokens[who])


async def play(api: httpx.AsyncClient, crew: Crew, log: EventStore) -> tuple[str, list[str]]:
    """The crew flow, with refusals on the way: the work order, the presigned photo URLs."""
    body = {"title": "Pump leaks", "crew": {"leader": crew.leader, "members": crew.members}}
    r = await api.post("/work-orders", json=body, headers=crew.auth(crew.dispatcher))
    assert r.status_code == 201, r.text
    wo = r.json()["id"]
    photo_ids = []
    async with ReportWatcher(log, wo) as watcher:
        for n, who in enumerate([crew.leader, *crew.members]):
            note = {"findings": "seal worn", "parts": [{"part_no": "SEAL-1", "qty": 1}]}
            r = await api.post(f"/work-orders/{wo}/notes", json=note, headers=crew.auth(who))
            assert r.status_code == 201, r.text
            files = {"file": ("p.jpg", jpeg(seed=7000 + n), "image/jpeg")}
            r = await api.post(f"/work-orders/{wo}/photos", files=files, headers=crew.auth(who))
            assert r.status_code == 201, r.text
            photo_ids.append(UUID(r.json()["id"]))
        report = {"summary": "seal replaced", "outcome": "resolved"}
        r = await api.post(
            f"/work-orders/{wo}/report", json=report, headers=crew.auth(crew.members[0])
        )
        assert r.status_code == 403
        r = await api.post(f"/work-orders/{wo}/report", json=report, headers=crew.auth(crew.leader))
        assert r.status_code == 201, r.text
        await watcher.revision(1)
    for photo_id in photo_ids:  # the copies are made after the uploads, in their own time
        assert isinstance(await rendition_outcome(log, UUID(wo), photo_id), PhotoRenditionsMade)
    r = await api.get(f"/work-orders/{wo}/photos", headers=crew.auth(crew.dispatcher))
    assert r.status_code == 200, r.text
    return wo, [str(p["url"]) for p in r.json() if p.get("url")]


def secrets_of(
    stack: Stack, keys: tuple[Path, Path], tokens: list[str], urls: list[str]
) -> dict[str, str]:
    """Every secret the system held during the test, by what it is."""
    found = {f"token {n}": t for n, t in enumerate(tokens)}
    for n, t in enumerate(tokens):
        signature = t.rsplit(".", 1)[-1]
        if t.count(".") == 2 and len(signature) >= 16:  # a leak of any form of the token
            found[f"token {n} signature"] = signature
    for name, value in stack.env.items():
        parts = urlsplit(value)
        if name.endswith("_URL") and parts.password:
            found[f"{name} password"] = parts.password
    found["FIELDCREW_S3_SECRET_KEY"] = stack.env["FIELDCREW_S3_SECRET_KEY"]
    private = keys[0].read_text()
    found["JWT private key"] = private
    body = "".join(line for line in private.splitlines() if "-----" not in line)
    found["JWT private key body"] = body
    for n, url in enumerate(urls):
        for param, values in parse_qs(urlsplit(url).query).items():
            if param.lower() in ("x-amz-signature", "x-amz-credential"):
                found[f"photo URL {n} {param}"] = values[0]
    return found


async def test_no_token_password_or_key_reaches_a_service_log(
    system: Stack, log: EventStore, token: TokenFactory, keys: tuple[Path, Path]
) -> None:
    crew = Crew(token)
    gateway = f"{system.env['FIELDCREW_GATEWAY_URL']}/api/v1"
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as api:
        wo, urls = await play(api, crew, log)
        forged = forgeries(
            Signer.from_pem(keys[0].read_bytes()), Signer.ed25519(), sub=crew.leader,
            role="technician", issuer=ISSUER, audience=AUDIENCE,
        )  # fmt: skip
        for bad in forged.values():  # refusals log too: they must not log the token
            r = await api.get("/work-orders", headers=bearer(bad))
            assert r.status_code == 401
    system.stop()  # every service flushes and logs its shutdown
    secrets = secrets_of(system, keys, [*crew.tokens.values(), *forged.values()], urls)
    assert any(k.endswith("NATS_URL password") for k in secrets)
    logs = {name: (system.logs / f"{name}.log").read_text() for name in SERVICES}
    assert all(text.count("\n") > 3 for text in logs.values()), "the services logged nothing?"
    assert wo in logs["gateway"] and len(urls) == 3, "the flow itself was not logged?"
    hits = [
        f"{what} in {service}.log"
        for what, secret in secrets.items()
        for service, text in logs.items()
        if secret in text
    ]
    lines = sum(text.count("\n") for text in logs.values())
    print(f"\nsecrets searched: {len(secrets)}, in {lines} log lines of {len(logs)} services")
    print(f"hits: {len(hits)}")
    assert hits == []


def test_redaction_hides_credentials_tokens_and_keys() -> None:
    token = Signer.ed25519().sign({"sub": "x"})
    lines = {
        "nats://fieldcrew:hunter2hunter2@nats-1:4222": "hunter2",
        "postgresql://agg:pg-pass-123@db:5432/x": "pg-pass-123",
        "nats://s3cr3tt0ken@nats-1:4222": "s3cr3tt0ken",
        f"Authorization: Bearer {token}": token.split(".")[2],
        f"bad token {token}": token.split(".")[2],
        "GET /x?X-Amz-Credential=AKIAEXAMPLE%2F20261127&X-Amz-Signature=abcdef0123": "abcdef0123",
        "password=hunter3 secret_key: sk-123": "hunter3",
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIK\n-----END PRIVATE KEY-----": "MC4CAQ",
    }
    for line, secret in lines.items():
        assert secret not in redact(line), line
    record = logging.makeLogRecord(
        {
            "msg": "connect to %s failed",
            "args": ("nats://u:pw-pw-pw-pw@h:1",),
            "authorization": f"Bearer {token}",
        }
    )
    formatted = JsonFormatter("test").format(record)
    assert "pw-pw-pw-pw" not in formatted and token not in formatted
    assert '"msg": "connect to nats://***@h:1 failed"' in formatted
