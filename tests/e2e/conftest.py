"""The whole system as ops run it: five service processes on free ports, over the session's
real servers, driven through the gateway like a mobile client."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fieldcrew_cli.servers import Infra
from fieldcrew_cli.stack import SERVICES, Stack, service_env
from fieldcrew_shared.eventstore import EventStore, Loaded, connect
from nats.js.api import DeliverPolicy
from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright, expect

from tests.conftest import TokenFactory
from tests.images import scene
from tests.otlp import Receiver, receiving
from tests.renditions import all_made


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
WAIT_MS = 30_000  # the board polls every 5 s; the report compiles a moment after the flow
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="session")
def chromium() -> Path:
    assert CHROMIUM.exists(), "make test installs Debian's chromium (apt-get install chromium)"
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), args=FLAGS)
        yield launched
        await launched.close()


@pytest.fixture
def shots(output_dir: Path) -> Path:
    """Where the console's screenshots go, for a person to look at."""
    folder = output_dir / "console"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def gateway_url(stack: Stack) -> str:
    return stack.env["FIELDCREW_GATEWAY_URL"]


@pytest.fixture
async def context(browser: Browser, gateway_url: str) -> AsyncIterator[BrowserContext]:
    """A browser profile of its own, at a desktop's size, on the session's gateway."""
    context = await browser.new_context(
        base_url=gateway_url, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(WAIT_MS)
    yield context
    await context.close()


async def sign_in(page: Page, token: str) -> None:
    """Sign in to the console with ``token``, as a person pastes it; the board opens."""
    await page.goto("/console/")
    await page.get_by_label("Bearer token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#board")).to_be_visible()


def row(page: Page, title: str) -> Locator:
    """The board's row of the work order titled ``title``."""
    return page.locator("#board tbody tr", has_text=title)


@pytest.fixture(scope="session")
def spans() -> Iterator[Receiver]:
    """What the session's services export over OTLP (tests/e2e/test_traces.py)."""
    with receiving() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def stack(
    infra: Infra,
    keys: tuple[Path, Path],
    tmp_path_factory: pytest.TempPathFactory,
    spans: Receiver,
) -> Iterator[Stack]:
    stack = Stack(logs=tmp_path_factory.mktemp("logs"), env={})
    stack.ports = {name: free_port() for name in SERVICES}
    stack.env = service_env(infra, keys[1], stack.ports)
    # spans recorded and exported, as when an operator sets the endpoint (ADR 0056)
    stack.env |= {
        "OTEL_EXPORTER_OTLP_ENDPOINT": spans.url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms: spans reach the receiver quickly
    }
    stack.env["FIELDCREW_LIVE_HEARTBEAT"] = "1"  # live streams' heartbeats, seen within a test
    # webhooks given up on quickly (tests/e2e/test_webhooks.py)
    stack.env |= {
        "FIELDCREW_WEBHOOK_TIMEOUT": "1.5",
        "FIELDCREW_WEBHOOK_ATTEMPTS": "3",
        "FIELDCREW_WEBHOOK_RETRY_FIRST": "0.2",
    }
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    base = f"{stack.env['FIELDCREW_GATEWAY_URL']}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        yield client


@pytest.fixture
async def log(infra: Infra) -> AsyncIterator[EventStore]:
    """Read access to the event log, to check what was (not) written."""
    nc = await connect(infra.nats_url, name="e2e-reader")
    yield EventStore(nc, source="tests")
    await nc.drain()


@dataclass
class Crew:
    """One work order's people, with their tokens; ids unique per test."""

    dispatcher: str
    leader: str
    members: list[str]
    outsider: str
    tokens: dict[str, str]
    admin: str = ""
    analyst: str = ""

    @property
    def everyone(self) -> list[str]:
        return [self.leader, *self.members]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def crew(token: TokenFactory) -> Crew:
    tag = uuid4().hex[:8]
    leader, members = f"lena-{tag}", [f"max-{tag}", f"ida-{tag}", f"tom-{tag}"]
    tokens = {p: token(p, "technician") for p in (leader, *members, f"eve-{tag}")}
    tokens[f"dora-{tag}"] = token(f"dora-{tag}", "dispatcher")
    tokens[f"ana-{tag}"] = token(f"ana-{tag}", "analyst")
    tokens[f"ada-{tag}"] = token(f"ada-{tag}", "admin")
    return Crew(f"dora-{tag}", leader, members, f"eve-{tag}", tokens, f"ada-{tag}", f"ana-{tag}")


async def issue(api: httpx.AsyncClient, crew: Crew, **extra: Any) -> str:
    body = {
        "title": "Pump P-104 leaks",
        "site": "Plant 2",
        "asset": "P-104",
        "crew": {"leader": crew.leader, "members": crew.members},
        **extra,
    }
    r = await api.post("/work-orders", json=body, headers=crew.auth(crew.dispatcher))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


class ReportWatcher:
    """Waits for ``ServerReportCompiled`` of one work order in the log: the thing itself
    (an ordered JetStream consumer, so an event published before we looked still counts)."""

    def __init__(self, log: EventStore, work_order_id: str) -> None:
        self.js = log.js
        self.subject = f"fieldcrew.aggregator.{work_order_id}.ServerReportCompiled"
        self.revisions: asyncio.Queue[int] = asyncio.Queue()

    async def __aenter__(self) -> ReportWatcher:
        async def on_msg(msg: Any) -> None:
            await self.revisions.put(json.loads(msg.data)["data"]["revision"])

        self.sub = await self.js.subscribe(
            self.subject, cb=on_msg, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sub.unsubscribe()

    async def revision(self, wanted: int) -> None:
        async with asyncio.timeout(30):
            while await self.revisions.get() < wanted:
                pass


async def history(log: EventStore, work_order_id: str, context: str = "*") -> Loaded:
    return await log.load(f"fieldcrew.{context}.{work_order_id}.>")


NOTE = {
    "findings": "Seal worn",
    "actions": "Replaced seal",
    "parts": [{"part_no": "SEAL-40", "qty": 1}],
}
REPORT = {"summary": "Seal replaced, pump tested", "root_cause": "Wear", "outcome": "resolved"}


async def play_crew_flow(
    api: httpx.AsyncClient, crew: Crew, log: EventStore, work_order_id: str, seed: int = 0
) -> None:
    """Everyone adds a note and a photo, the leader submits the report, the server report's
    first revision is announced in the log and every photo's copies are made."""
    async with ReportWatcher(log, work_order_id) as watcher:
        for n, who in enumerate(crew.everyone):
            r = await api.post(
                f"/work-orders/{work_order_id}/notes", json=NOTE, headers=crew.auth(who)
            )
            assert r.status_code == 201, r.text
            files = {"file": ("p.jpg", scene(seed + n), "image/jpeg")}
            r = await api.post(
                f"/work-orders/{work_order_id}/photos", files=files, headers=crew.auth(who)
            )
            assert r.status_code == 201, r.text
        r = await api.post(
            f"/work-orders/{work_order_id}/report", json=REPORT, headers=crew.auth(crew.leader)
        )
        assert r.status_code == 201, r.text
        await watcher.revision(1)
    await all_made(log, work_order_id)
