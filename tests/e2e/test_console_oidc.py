"""Signing in to the console with OIDC (authorization code + PKCE) in a real browser.

The identity provider is our own small stand-in, served on loopback: it redirects with a code
for the challenge it was given and issues a token only for the verifier that matches it, as
RFC 7636 asks. A gateway of its own is configured with it, beside the session's services.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from fieldcrew_cli.stack import Stack
from playwright.async_api import Browser, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.conftest import TokenFactory
from tests.e2e.conftest import WAIT_MS, free_port

CLIENT_ID = "fieldcrew-console"


@dataclass
class StandInProvider:
    """An identity provider that signs in one user, recording what it was asked."""

    user: str
    mint: TokenFactory
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    exchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    async def authorize(self, request: Request) -> Response:
        asked = dict(request.query_params)
        if asked.get("code_challenge_method") != "S256" or asked.get("client_id") != CLIENT_ID:
            return JSONResponse({"error": "invalid_request"}, 400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = asked
        query = urlencode({"code": code, "state": asked["state"]})
        return RedirectResponse(f"{asked['redirect_uri']}?{query}", 302)

    async def token(self, request: Request) -> Response:
        form = await request.form()
        asked = self.codes.pop(str(form.get("code")), None)
        verifier = str(form.get("code_verifier", "")).encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        cors = {"Access-Control-Allow-Origin": request.headers.get("origin", "*")}
        if (
            asked is None
            or challenge.decode() != asked["code_challenge"]
            or form.get("redirect_uri") != asked["redirect_uri"]
        ):
            self.refused.append(str(form.get("code")))
            return JSONResponse({"error": "invalid_grant"}, 400, headers=cors)
        self.exchanged.append(asked["code_challenge"])
        access = self.mint(self.user, "dispatcher")
        return JSONResponse({"access_token": access, "token_type": "Bearer"}, headers=cors)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )


@pytest.fixture
async def provider(token: TokenFactory) -> AsyncIterator[tuple[StandInProvider, str]]:
    stand_in = StandInProvider(f"sso-dora-{secrets.token_hex(3)}", token)
    listening = socket.socket()  # bound and listening before the server runs: no wait
    listening.bind(("127.0.0.1", 0))
    listening.listen(16)
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(stand_in.app(), log_config=None))
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    yield stand_in, f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving
    listening.close()


@pytest.fixture
def sso_gateway(stack: Stack, provider: tuple[StandInProvider, str]) -> Iterator[str]:
    """A gateway whose console signs in with the stand-in provider."""
    _, issuer = provider
    port = free_port()
    env = {
        **stack.env_of("gateway"),
        "FIELDCREW_PORT": str(port),
        "FIELDCREW_OIDC_AUTHORIZATION_URL": f"{issuer}/authorize",
        "FIELDCREW_OIDC_TOKEN_URL": f"{issuer}/token",
        "FIELDCREW_OIDC_CLIENT_ID": CLIENT_ID,
        "PYTHONFAULTHANDLER": "1",  # SIGABRT writes every thread's stack to the log
    }
    log = stack.logs / "gateway-sso.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "fieldcrew_gateway"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not answers(f"{url}/healthz"):
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the SSO gateway did not start"
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)  # where it hangs, for whoever reads the failure
            process.wait(10)
            raise AssertionError(
                f"the SSO gateway had not exited 10 s after SIGTERM: {log.read_text()[-6000:]}"
            ) from None


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


async def test_signing_in_with_the_identity_provider(
    browser: Browser,
    sso_gateway: str,
    provider: tuple[StandInProvider, str],
    output_dir: Path,
) -> None:
    stand_in, _ = provider
    context = await browser.new_context(base_url=sso_gateway)
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    await page.goto("/console/")
    await page.get_by_role("button", name="Sign in with single sign-on").click()
    await expect(page.locator("#board")).to_be_visible()
    await expect(page.get_by_text(f"{stand_in.user} · dispatcher")).to_be_visible()
    assert len(stand_in.exchanged) == 1 and stand_in.refused == []
    await page.screenshot(path=output_dir / "console" / "signed-in-with-sso.png")

    # A code that this tab did not ask for (another state) is not exchanged.
    await page.evaluate("sessionStorage.clear()")
    await page.goto("/console/?code=stolen&state=forged")
    await expect(page.get_by_role("alert")).to_contain_text("state mismatch")
    assert stand_in.exchanged == [stand_in.exchanged[0]] and stand_in.refused == []
    await context.close()
