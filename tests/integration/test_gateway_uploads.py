"""Photo uploads through the gateway: streamed to the photos service, refused when too large."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from fieldcrew_gateway.main import create_app

from tests.conftest import TokenFactory, app_client, bearer
from tests.integration.test_gateway_api import (
    MAX_UPLOAD,
    WO,
    EchoUpstream,
    gateway_settings,
    serving,
)


@pytest.fixture(scope="module")
async def echo() -> AsyncIterator[EchoUpstream]:
    upstream = EchoUpstream()
    async with serving(upstream.app) as url:
        upstream.url = url
        yield upstream


@pytest.fixture(scope="module")
async def gateway(echo: EchoUpstream, keys: tuple[Path, Path]) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_app(gateway_settings(keys, echo.url))) as client:
        yield client


@pytest.fixture(scope="module")
def auth(token: TokenFactory) -> dict[str, str]:
    return bearer(token("max", "technician"))


def photo_form(size: int) -> tuple[bytes, str]:
    """A multipart photo upload: its body and its Content-Type (with the boundary)."""
    request = httpx.Request(
        "POST",
        "http://upload",
        files={"file": ("seal.jpg", b"\xff" * size, "image/jpeg")},
        data={"caption": "worn seal", "phase": "before"},
    )
    return request.read(), request.headers["content-type"]


async def test_photo_upload_is_streamed_through_unchanged(
    gateway: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body, content_type = photo_form(MAX_UPLOAD)
    work_order = uuid4()
    answer = await gateway.post(
        f"{WO}/{work_order}/photos", content=body, headers={**auth, "Content-Type": content_type}
    )
    assert answer.status_code == 201
    seen = answer.json()
    assert seen["path"] == f"/work-orders/{work_order}/photos"
    assert seen["headers"]["content-type"] == content_type
    assert seen["sha256"] == hashlib.sha256(body).hexdigest()


async def test_photo_upload_with_too_large_content_length_is_413(
    gateway: httpx.AsyncClient, echo: EchoUpstream, auth: dict[str, str]
) -> None:
    body, content_type = photo_form(MAX_UPLOAD + 100 * 1024)
    before = len(echo.seen)
    answer = await gateway.post(
        f"{WO}/{uuid4()}/photos", content=body, headers={**auth, "Content-Type": content_type}
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"
    assert len(echo.seen) == before


async def test_photo_upload_streamed_past_the_limit_is_cut_off(
    gateway: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"\xff" * 16 * 1024

    headers = {**auth, "Content-Type": "multipart/form-data; boundary=b"}
    answer = await gateway.post(f"{WO}/{uuid4()}/photos", content=chunks(), headers=headers)
    assert "content-length" not in answer.request.headers
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"


async def test_photo_upload_must_be_multipart(
    gateway: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    answer = await gateway.post(f"{WO}/{uuid4()}/photos", json={"file": "x"}, headers=auth)
    assert answer.status_code == 415
