"""The gateway's abuse limits over real HTTP: the gateway served by uvicorn exactly as
``fieldcrew-gateway`` serves it (``uvicorn_config``), in front of a stand-in upstream that
echoes what reached it. Slow clients are raw sockets that trickle bytes; each test waits for
the server to close the connection (bounded), with small configured deadlines."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import uvicorn
from fieldcrew_gateway.limits import TokenBuckets, retry_after
from fieldcrew_gateway.main import create_app
from fieldcrew_gateway.server import uvicorn_config
from fieldcrew_shared.auth import Role, ensure_keypair, mint

from tests.conftest import AUDIENCE, ISSUER, TokenFactory, bearer
from tests.integration.test_gateway_api import WO, EchoUpstream, gateway_settings, serving
from tests.integration.test_gateway_uploads import photo_form

SLOW = 0.05  # seconds between two trickled bytes
BOUND = 15.0  # no test waits longer than this for the server


@pytest.fixture(scope="module")
async def echo() -> AsyncIterator[EchoUpstream]:
    upstream = EchoUpstream()
    async with serving(upstream.app) as url:
        upstream.url = url
        yield upstream
        upstream.release.set()


@dataclass
class Gateway:
    url: str
    port: int


@asynccontextmanager
async def gateway_server(
    keys: tuple[Path, Path], echo: EchoUpstream, **overrides: Any
) -> AsyncIterator[Gateway]:
    """The gateway on a free port, served with its own uvicorn configuration."""
    settings = gateway_settings(keys, echo.url, **overrides)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        server = uvicorn.Server(uvicorn_config(app, settings, lifespan="off"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        port = sock.getsockname()[1]
        try:
            yield Gateway(f"http://127.0.0.1:{port}", port)
        finally:
            server.should_exit = True
            await task
            sock.close()


@asynccontextmanager
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=BOUND) as c:
        yield c


# -- the token bucket itself (a clock we move by hand) ------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_the_burst_then_one_per_interval() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("ann") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("ann") == pytest.approx(0.5)
    assert buckets.take("bob") == 0.0  # every key has its own bucket
    clock.now += 0.5
    assert buckets.take("ann") == 0.0
    assert buckets.take("ann") == pytest.approx(0.5)


def test_bucket_never_holds_more_than_the_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=10.0, burst=2, clock=clock)
    buckets.take("ann")
    clock.now += 3600
    assert [buckets.take("ann") for _ in range(2)] == [0.0, 0.0]
    assert buckets.take("ann") > 0


def test_bucket_memory_is_bounded() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=5, max_keys=100, clock=clock)
    for n in range(1000):
        buckets.take(f"ip:{n}")
    assert len(buckets) == 100
    clock.now += 5  # every bucket is full again: nothing worth keeping
    buckets.take("ann")
    assert len(buckets) == 1


@pytest.mark.parametrize(("wait", "seconds"), [(0.01, 1), (1.0, 1), (1.01, 2), (99.5, 100)])
def test_retry_after_is_whole_seconds_rounded_up(wait: float, seconds: int) -> None:
    assert retry_after(wait) == seconds


# -- rate limits over HTTP ----------------------------------------------------------------

# One token every 100 s: within a test, the burst is all a caller gets.
RATE = {"rate_limit_per_second": 0.01, "rate_limit_burst": 3}


def assert_rate_limited(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert 1 <= int(answer.headers["retry-after"]) <= 100
    assert answer.json()["error"]["code"] == "rate_limited"
    assert answer.headers["x-correlation-id"]


async def test_a_user_gets_the_burst_then_429_with_retry_after(
    keys: tuple[Path, Path], echo: EchoUpstream, token: TokenFactory
) -> None:
    ann, bob = f"ann-{uuid4().hex[:6]}", f"bob-{uuid4().hex[:6]}"
    async with gateway_server(keys, echo, **RATE) as gateway, client(gateway) as api:
        before = len(echo.seen)
        answers = [await api.get(WO, headers=bearer(token(ann, "dispatcher"))) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        # a fresh token of the same user draws on the same bucket
        assert_rate_limited(await api.get(WO, headers=bearer(token(ann, "dispatcher"))))
        assert len(echo.seen) == before + 3
        assert (await api.get(WO, headers=bearer(token(bob, "dispatcher")))).status_code == 200
        assert (await api.get("/healthz")).status_code == 200  # probes are not counted


async def test_requests_without_a_valid_token_are_limited_by_address(
    keys: tuple[Path, Path],
    echo: EchoUpstream,
    token: TokenFactory,
    tmp_path: Path,
) -> None:
    other_private, _ = ensure_keypair(tmp_path)
    forged = mint(
        other_private.read_bytes(),
        sub="victim",
        role=Role.dispatcher,
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    async with gateway_server(keys, echo, **RATE) as gateway, client(gateway) as api:
        refused = [
            await api.get(WO),
            await api.get(WO, headers=bearer("not-a-jwt")),
            await api.get(WO, headers=bearer(forged)),
        ]
        assert [a.status_code for a in refused] == [401, 401, 401]
        assert_rate_limited(await api.get(WO, headers={"X-Forwarded-For": "203.0.113.9"}))
        # the forged token's sub was not charged: the real victim still has a full burst
        victim = bearer(token("victim", "dispatcher"))
        assert [(await api.get(WO, headers=victim)).status_code for _ in range(3)] == [200] * 3


# -- body limits ----------------------------------------------------------------------------

JSON_LIMIT = 1024


def issue_body(description: str) -> dict[str, Any]:
    return {"title": "Seal", "description": description, "crew": {"leader": "lea"}}


@pytest.fixture
async def limited(keys: tuple[Path, Path], echo: EchoUpstream) -> AsyncIterator[Gateway]:
    async with gateway_server(keys, echo, max_json_body_bytes=JSON_LIMIT) as gateway:
        yield gateway


async def test_json_body_within_the_limit_is_forwarded(
    limited: Gateway, token: TokenFactory
) -> None:
    async with client(limited) as api:
        body = issue_body("x" * (JSON_LIMIT - 200))
        answer = await api.post(WO, json=body, headers=bearer(token("dee", "dispatcher")))
    assert answer.status_code == 201, answer.text


async def test_json_body_declared_too_large_is_413_before_reading(
    limited: Gateway, echo: EchoUpstream, token: TokenFactory
) -> None:
    before = len(echo.seen)
    async with client(limited) as api:
        body = issue_body("x" * JSON_LIMIT)
        answer = await api.post(WO, json=body, headers=bearer(token("dee", "dispatcher")))
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"
    assert len(echo.seen) == before


async def test_chunked_json_body_is_cut_off_at_the_limit(
    limited: Gateway, echo: EchoUpstream, token: TokenFactory
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"title": "Seal", "crew": {"leader": "lea"}, "description": "'
        for _ in range(64):  # 64 KiB in all, if the server kept reading
            sent += 1
            yield b"x" * 1024

    before = len(echo.seen)
    headers = {**bearer(token("dee", "dispatcher")), "Content-Type": "application/json"}
    async with client(limited) as api:
        answer = await api.post(WO, content=chunks(), headers=headers)
    assert "content-length" not in answer.request.headers
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"
    assert len(echo.seen) == before


async def test_photo_uploads_keep_their_own_larger_limit(
    limited: Gateway, token: TokenFactory
) -> None:
    body, content_type = photo_form(JSON_LIMIT * 5)  # 5x the JSON limit; the upload limit
    headers = {**bearer(token("max", "technician")), "Content-Type": content_type}
    async with client(limited) as api:
        answer = await api.post(f"{WO}/{uuid4()}/photos", content=body, headers=headers)
    assert answer.status_code == 201, answer.text


# -- slow clients (raw sockets) -------------------------------------------------------------

DEADLINES = {
    "request_head_timeout": 0.5,
    "json_body_timeout": 0.5,
    "upload_body_timeout": 0.5,
    "keep_alive_timeout": 1,
    "max_request_head_bytes": 8 * 1024,
}


@pytest.fixture
async def strict(keys: tuple[Path, Path], echo: EchoUpstream) -> AsyncIterator[Gateway]:
    async with gateway_server(keys, echo, **DEADLINES) as gateway:
        yield gateway


@dataclass
class Trickled:
    """What a trickling client saw: all the server sent before closing, and how much of what
    it meant to send it got out."""

    received: bytes
    sent: int
    meant: int


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (EOF, or a reset when it
    closed with one of our bytes unread)."""
    received = bytearray()
    try:
        while chunk := await reader.read(64 * 1024):
            received += chunk
    except ConnectionResetError:
        pass
    return bytes(received)


async def trickle(gateway: Gateway, first: bytes, rest: bytes) -> Trickled:
    """Send ``first`` at once, then ``rest`` a byte every ``SLOW`` s until the server closes
    the connection; return what it answered. Fails if it never closes within ``BOUND``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    received = asyncio.create_task(read_until_closed(reader))
    sent = 0
    try:
        async with asyncio.timeout(BOUND):
            writer.write(first)
            for byte in rest:
                if received.done():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                sent += 1
                await asyncio.sleep(SLOW)  # the pace of the slow client, not a wait for state
            answer = await received
    except ConnectionError:  # writing after the server closed
        answer = await asyncio.wait_for(received, BOUND)
    finally:
        writer.close()
    return Trickled(answer, sent, len(rest))


def head(method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: gateway", *headers, "", ""]
    return "\r\n".join(lines).encode()


def status_and_body(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head_part, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head_part.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, json.loads(body) if body else None


async def test_a_head_trickled_byte_by_byte_is_cut_off(strict: Gateway) -> None:
    padding = head("GET", WO, "X-Padding: " + "a" * 200)
    seen = await trickle(strict, b"", padding)
    assert seen.received == b""  # closed without an answer
    assert seen.sent < seen.meant  # before the head was complete


async def test_an_idle_connection_is_closed(strict: Gateway) -> None:
    seen = await trickle(strict, b"", b"")
    assert seen.received == b""


async def test_a_trickled_json_body_gets_408_and_the_connection_closes(
    strict: Gateway, echo: EchoUpstream, token: TokenFactory
) -> None:
    body = json.dumps(issue_body("x" * 300)).encode()
    first = head(
        "POST",
        WO,
        f"Authorization: Bearer {token('dee', 'dispatcher')}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    )
    before = len(echo.seen)
    seen = await trickle(strict, first, body)
    status, headers, answer = status_and_body(seen.received)
    assert (status, answer["error"]["code"]) == (408, "request_timeout")
    assert headers["connection"] == "close"
    assert seen.sent < seen.meant
    assert len(echo.seen) == before


async def test_a_trickled_chunked_upload_gets_408(strict: Gateway, token: TokenFactory) -> None:
    body, content_type = photo_form(300)
    chunked = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in (body,)) + b"0\r\n\r\n"
    first = head(
        "POST",
        f"{WO}/{uuid4()}/photos",
        f"Authorization: Bearer {token('max', 'technician')}",
        f"Content-Type: {content_type}",
        "Transfer-Encoding: chunked",
    )
    seen = await trickle(strict, first, chunked)
    status, headers, answer = status_and_body(seen.received)
    assert (status, answer["error"]["code"]) == (408, "request_timeout")
    assert headers["connection"] == "close"
    assert seen.sent < seen.meant


async def test_after_a_response_an_idle_or_trickling_client_is_closed(
    strict: Gateway, token: TokenFactory
) -> None:
    request = head("GET", WO, f"Authorization: Bearer {token('dee', 'dispatcher')}")
    idle = await trickle(strict, request, b"")
    assert status_and_body(idle.received)[0] == 200  # answered, then closed when idle
    # every byte would reset uvicorn's keep-alive timer; the head deadline still applies
    again = await trickle(strict, request, head("GET", WO, "X-Padding: " + "a" * 200))
    assert again.received.count(b"HTTP/1.1 ") == 1
    assert again.sent < again.meant


async def test_a_head_growing_past_the_limit_is_refused(strict: Gateway) -> None:
    endless = head("GET", WO, "X-Padding: " + "a" * 16 * 1024).removesuffix(b"\r\n\r\n")
    seen = await trickle(strict, endless, b"")
    assert seen.received.startswith(b"HTTP/1.1 400 ")
