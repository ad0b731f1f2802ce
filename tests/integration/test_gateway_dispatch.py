"""The gateway in front of the real dispatch service (run with uvicorn on real NATS)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from fieldcrew_dispatch.config import Settings as DispatchSettings
from fieldcrew_dispatch.main import create_app as create_dispatch
from fieldcrew_gateway.main import create_app

from tests.conftest import TokenFactory, app_client, bearer
from tests.integration.test_gateway_api import WO, gateway_settings, issue_body, serving


@pytest.fixture(scope="module")
def auth(token: TokenFactory) -> dict[str, str]:
    return bearer(token("dee", "dispatcher"))


@pytest.fixture(scope="module")
async def dispatch_gateway(
    settings_env: dict[str, str], keys: tuple[Path, Path]
) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway whose dispatch upstream is the real dispatch service."""
    dispatch: FastAPI = create_dispatch(DispatchSettings())
    async with serving(dispatch) as dispatch_url:
        settings = gateway_settings(keys, dispatch_url)
        async with app_client(create_app(settings)) as client:
            yield client


async def test_issue_work_order_through_the_gateway_is_idempotent(
    dispatch_gateway: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    headers = {**auth, "Idempotency-Key": str(uuid4())}
    first = await dispatch_gateway.post(WO, json=issue_body(), headers=headers)
    assert first.status_code == 201, first.text
    work_order = first.json()["id"]
    assert first.headers["location"] == f"{WO}/{work_order}"
    assert "idempotent-replayed" not in first.headers

    retry = await dispatch_gateway.post(WO, json=issue_body(), headers=headers)
    assert retry.status_code == 201
    assert retry.json()["id"] == work_order
    assert retry.headers["idempotent-replayed"] == "true"


async def test_dispatch_refusals_come_back_unchanged(
    dispatch_gateway: httpx.AsyncClient, token: TokenFactory
) -> None:
    answer = await dispatch_gateway.post(WO, json=issue_body(), headers=bearer(token("max")))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
