"""Liveness and readiness: every service says whether it can work now, and a hung backend
makes ``/readyz`` answer 503 in bounded time instead of hanging with it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fieldcrew_dispatch.config import Settings as DispatchSettings
from fieldcrew_dispatch.main import create_app as create_dispatch
from fieldcrew_gateway.main import create_app as create_gateway
from fieldcrew_photos.config import Settings as PhotosSettings
from fieldcrew_photos.main import create_app as create_photos
from fieldcrew_team.config import Settings as TeamSettings
from fieldcrew_team.main import create_app as create_team
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import app_client
from tests.integration.test_gateway_api import EchoUpstream, gateway_settings, serving

# long enough for any bounded answer, short of a hang
CLIENT_TIMEOUT = 15.0


async def readyz(client: httpx.AsyncClient) -> tuple[int, dict[str, Any], httpx.Headers]:
    answer = await client.get("/readyz", timeout=CLIENT_TIMEOUT)
    return answer.status_code, answer.json(), answer.headers


@pytest.mark.parametrize(
    ("create", "settings"),
    [(create_dispatch, DispatchSettings), (create_team, TeamSettings)],
    ids=["dispatch", "team"],
)
async def test_a_command_service_is_ready_when_nats_and_the_stream_answer(
    settings_env: dict[str, str], create: Any, settings: Any
) -> None:
    async with app_client(create(settings())) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        status, body, _ = await readyz(client)
    assert status == 200, body
    assert body["status"] == "ready" and body["problems"] == []
    assert body["checks"]["nats"]["ok"] is True
    assert body["checks"]["nats"]["last_seq"] >= 0


async def test_photos_is_ready_when_nats_and_the_bucket_answer(
    settings_env: dict[str, str],
) -> None:
    async with app_client(create_photos(PhotosSettings())) as client:  # type: ignore[call-arg]
        status, body, _ = await readyz(client)
    assert status == 200, body
    assert set(body["checks"]) == {"nats", "s3", "renditions", "renditions_lag", "draining"}
    assert body["checks"]["s3"] == {"ok": True, "bucket": "fieldcrew-photos"}
    assert body["checks"]["renditions"]["state"] == "running"
    assert {"pending", "ack_pending"} <= set(body["checks"]["renditions_lag"])


@pytest.fixture(scope="module")
async def echo() -> AsyncIterator[EchoUpstream]:
    upstream = EchoUpstream()
    async with serving(upstream.app) as url:
        upstream.url = url
        yield upstream
        upstream.release.set()


@pytest.fixture(scope="module")
def hung_url() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers: what a
    paused (SIGSTOP) service looks like from outside."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
async def unready_url() -> AsyncIterator[str]:
    """A service whose own checks fail."""

    async def unready(_: Request) -> JSONResponse:
        problems = [{"check": "postgres", "error": "no answer within 2 s"}]
        return JSONResponse({"status": "unready", "problems": problems, "checks": {}}, 503)

    async with serving(Starlette(routes=[Route("/readyz", unready)])) as url:
        yield url


async def test_the_gateway_is_ready_when_every_upstream_is(
    keys: tuple[Path, Path], echo: EchoUpstream
) -> None:
    async with app_client(create_gateway(gateway_settings(keys, echo.url))) as client:
        status, body, _ = await readyz(client)
    assert status == 200, body
    upstreams = {"dispatch", "team", "photos", "aggregator", "documents"}
    assert set(body["checks"]) == upstreams | {"draining"}
    assert all(check["ok"] for check in body["checks"].values())


async def test_the_gateway_names_each_upstream_that_is_down_hung_or_unready(
    keys: tuple[Path, Path], echo: EchoUpstream, hung_url: str, unready_url: str
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        settings = gateway_settings(
            keys,
            echo.url,
            backend_timeout=0.3,
            team_url=f"http://127.0.0.1:{closed.getsockname()[1]}",
            photos_url=hung_url,
            aggregator_url=unready_url,
        )
        async with app_client(create_gateway(settings)) as client:
            status, body, headers = await readyz(client)
    assert status == 503
    assert headers["retry-after"] == "1"
    assert body["status"] == "unready"
    problems = {p["check"]: p["error"] for p in body["problems"]}
    assert set(problems) == {"team", "photos", "aggregator"}
    assert problems["team"].startswith("team is not reachable")
    assert problems["photos"].startswith("photos is not reachable")  # hung: timed out
    assert problems["aggregator"] == "aggregator is not ready: postgres: no answer within 2 s"
    assert body["checks"]["dispatch"]["ok"] is True
