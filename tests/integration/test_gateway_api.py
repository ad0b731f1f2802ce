"""The gateway against a stand-in upstream: a real uvicorn server that answers every request
with what it received, so forwarding, auth, validation and failures can be seen exactly."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import uvicorn
from fieldcrew_gateway.config import Settings
from fieldcrew_gateway.main import create_app
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import AUDIENCE, ISSUER, TokenFactory, app_client, bearer

WO = "/api/v1/work-orders"
MAX_UPLOAD = 1000


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free port; its lifespan runs first.

    The socket listens before uvicorn starts, so a client's first request simply waits for
    the server: nothing to poll.
    """
    async with app.router.lifespan_context(app):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
            await task
            sock.close()


class EchoUpstream:
    """A stand-in service: answers every request with what it received, and logs it.

    ``POST …/report`` answers a 409 error; ``…/server-report`` answers once ``release`` is set.
    """

    def __init__(self) -> None:
        self.url = ""
        self.seen: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        self.app = Starlette(routes=[Route("/{path:path}", self.echo, methods=["GET", "POST"])])

    async def echo(self, request: Request) -> Response:
        try:
            body = await request.body()
        except ClientDisconnect:
            self.seen.append({"path": request.url.path, "disconnected": True})
            return Response(status_code=400)
        seen = {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": dict(request.headers),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        self.seen.append(seen)
        if request.url.path.endswith("/server-report"):
            await self.release.wait()
        if request.method == "POST" and request.url.path.endswith("/report"):
            return JSONResponse({"error": {"code": "conflict", "message": "submitted"}}, 409)
        headers = {"Location": "/api/v1/elsewhere", "X-Internal": "not for clients"}
        return JSONResponse(seen, 201 if request.method == "POST" else 200, headers=headers)


@pytest.fixture(scope="module")
async def echo() -> AsyncIterator[EchoUpstream]:
    upstream = EchoUpstream()
    async with serving(upstream.app) as url:
        upstream.url = url
        yield upstream
        upstream.release.set()


@pytest.fixture(scope="module")
def closed_url() -> Iterator[str]:
    """A port that is bound (so no one else takes it) but refuses connections."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def gateway_settings(keys: tuple[Path, Path], url: str, **overrides: Any) -> Settings:
    names = ("dispatch", "team", "photos", "aggregator", "documents")
    urls = {f"{name}_url": url for name in names}
    return Settings(
        jwt_public_key_file=keys[1],
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        max_upload_bytes=MAX_UPLOAD,
        **{**urls, **overrides},
    )


@pytest.fixture(scope="module")
async def gateway(echo: EchoUpstream, keys: tuple[Path, Path]) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_app(gateway_settings(keys, echo.url))) as client:
        yield client


@pytest.fixture(scope="module")
def auth(token: TokenFactory) -> dict[str, str]:
    return bearer(token("dee", "dispatcher"))


def issue_body() -> dict[str, Any]:
    return {"title": "Replace pump seal", "crew": {"leader": "lea", "members": ["max"]}}


async def test_root_says_where_the_api_is(gateway: httpx.AsyncClient) -> None:
    answer = await gateway.get("/")
    assert answer.json() == {"service": "fieldcrew gateway", "docs": "/docs", "api": "/api/v1"}


async def test_forwards_path_query_and_headers_only(
    gateway: httpx.AsyncClient, echo: EchoUpstream, auth: dict[str, str]
) -> None:
    headers = {**auth, "X-Correlation-Id": "corr-1", "X-Secret": "stays here"}
    answer = await gateway.get(f"{WO}?status=issued&limit=5", headers=headers)
    assert answer.status_code == 200
    seen = answer.json()
    assert (seen["method"], seen["path"], seen["query"]) == (
        "GET",
        "/work-orders",
        "status=issued&limit=5",
    )
    assert seen["headers"]["authorization"] == auth["Authorization"]
    assert seen["headers"]["x-correlation-id"] == "corr-1"
    assert "x-secret" not in seen["headers"]
    assert answer.headers["x-correlation-id"] == "corr-1"
    assert answer.headers["location"] == "/api/v1/elsewhere"
    assert "x-internal" not in answer.headers


async def test_makes_up_a_correlation_id_when_absent(
    gateway: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    work_order = uuid4()
    answer = await gateway.get(f"{WO}/{work_order}/notes", headers=auth)
    assert answer.json()["path"] == f"/work-orders/{work_order}/notes"
    correlation_id = answer.headers["x-correlation-id"]
    assert UUID(correlation_id)
    assert answer.json()["headers"]["x-correlation-id"] == correlation_id


async def test_upstream_errors_come_back_unchanged(
    gateway: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = {"summary": "fixed", "outcome": "resolved"}
    answer = await gateway.post(f"{WO}/{uuid4()}/report", json=body, headers=auth)
    assert answer.status_code == 409, answer.text
    assert answer.json() == {"error": {"code": "conflict", "message": "submitted"}}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-jwt"}])
async def test_no_valid_token_is_401_before_any_upstream_call(
    gateway: httpx.AsyncClient, echo: EchoUpstream, headers: dict[str, str]
) -> None:
    before = len(echo.seen)
    answer = await gateway.post(WO, json=issue_body(), headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"
    assert answer.headers["www-authenticate"] == "Bearer"
    assert len(echo.seen) == before


# a fixed id: the two test processes of `make test` must collect the same test names
ANY_ID = UUID(int=42)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", WO, {"title": "", "crew": {"leader": "lea"}}),
        ("POST", WO, {**issue_body(), "colour": "red"}),
        ("POST", f"{WO}/{ANY_ID}/notes", {"parts": [{"part_no": "P1", "qty": 0}]}),
        ("POST", f"{WO}/{ANY_ID}/report", {"summary": "done"}),
        ("GET", f"{WO}/not-a-uuid", None),
        ("GET", f"{WO}/{ANY_ID}/photos/42", None),
        ("GET", f"{WO}?status=lost", None),
    ],
)
async def test_bad_input_is_422_at_the_gateway(
    gateway: httpx.AsyncClient,
    echo: EchoUpstream,
    auth: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    before = len(echo.seen)
    answer = await gateway.request(method, path, json=body, headers=auth)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_request"
    assert len(echo.seen) == before


async def test_down_upstream_is_503_with_retry_after(
    keys: tuple[Path, Path], echo: EchoUpstream, closed_url: str, auth: dict[str, str]
) -> None:
    settings = gateway_settings(keys, echo.url, aggregator_url=closed_url)
    async with app_client(create_app(settings)) as client:
        answer = await client.get(f"{WO}/{uuid4()}", headers=auth)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.json() == {
        "error": {
            "code": "backend_unavailable",
            "message": "aggregator is not reachable, retry later",
        }
    }


async def test_slow_upstream_is_503(
    keys: tuple[Path, Path], echo: EchoUpstream, auth: dict[str, str]
) -> None:
    settings = gateway_settings(keys, echo.url, upstream_timeout=0.2)
    async with app_client(create_app(settings)) as client:
        answer = await client.get(f"{WO}/{uuid4()}/server-report", headers=auth)
    echo.release.set()
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "backend_unavailable"


async def test_openapi_documents_every_route(gateway: httpx.AsyncClient) -> None:
    paths = (await gateway.get("/openapi.json")).json()["paths"]
    wo = f"{WO}/{{work_order_id}}"
    expected = {
        WO: {"post", "get"},
        wo: {"get"},
        f"{wo}/notes": {"post", "get"},
        f"{wo}/report": {"post", "get"},
        f"{wo}/photos": {"post", "get"},
        f"{wo}/photos/{{photo_id}}": {"get"},
        f"{wo}/server-report": {"get"},
    }
    assert {path: set(paths[path]) for path in expected} == expected
    upload = paths[f"{wo}/photos"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert "file" in upload["schema"]["required"]
    issue = paths[WO]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert issue["$ref"].endswith("/IssueWorkOrderRequest")
