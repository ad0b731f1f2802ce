"""Two replicas each of team and photos behind a gateway that knows them all; crews play
while each replica in turn gets SIGTERM (it turns not ready, drains and exits 0) and is
started again (the first of team and of photos together, then the second of each). Not one
request fails."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fieldcrew_cli.stack import Stack

from tests.e2e.conftest import Crew, free_port
from tests.e2e.test_crew_flow import NOTE, REPORT
from tests.images import jpeg

DRAIN_DELAY = "2"  # seconds; on a loaded machine a shorter one can pass before we look


@dataclass
class Replica:
    """One service process on its own port, started again on the same port."""

    service: str
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", f"fieldcrew_{self.service}"],
                env={**self.env, "FIELDCREW_PORT": str(self.port)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def ready(self) -> None:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(600):  # at most a minute
                assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.service} on {self.port} did not become ready")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Played:
    """What the crews' requests got: every status, and any failure."""

    statuses: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    work_orders: int = 0


@pytest.fixture
def replicas(stack: Stack, tmp_path: Path) -> Iterator[dict[str, list[Replica]]]:
    env = {**stack.env, "FIELDCREW_DRAIN_DELAY": DRAIN_DELAY}
    made = {
        service: [
            Replica(service, free_port(), Stack(tmp_path, env, dict(stack.ports)).env_of(service),
                    tmp_path / f"{service}-{i}.log")
            for i in (1, 2)
        ]
        for service in ("team", "photos")
    }  # fmt: skip
    gateway = Replica("gateway", free_port(), {}, tmp_path / "gateway.log")
    gateway.env = {
        **Stack(tmp_path, env, dict(stack.ports)).env_of("gateway"),
        **{f"FIELDCREW_{s.upper()}_URL": ",".join(r.url for r in made[s]) for s in made},
    }
    made["gateway"] = [gateway]
    try:
        yield made
    finally:
        for group in made.values():
            for replica in group:
                replica.stop()


async def play(api: httpx.AsyncClient, crew: Crew, played: Played, stop: asyncio.Event) -> None:
    """Whole work orders, one after the other, until ``stop``."""

    async def call(method: str, url: str, who: str, **kwargs: object) -> httpx.Response | None:
        try:
            answer = await api.request(method, url, headers=crew.auth(who), **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            played.failures.append(f"{method} {url}: {exc!r}")
            return None
        played.statuses.append(answer.status_code)
        if answer.status_code not in (200, 201):
            played.failures.append(f"{method} {url}: {answer.status_code} {answer.text[:200]}")
        return answer

    body = {"title": "Pump", "crew": {"leader": crew.leader, "members": crew.members}}
    while not stop.is_set():
        issued = await call("POST", "/work-orders", crew.dispatcher, json=body)
        if issued is None or issued.status_code != 201:
            return
        wo = issued.json()["id"]
        for i, who in enumerate(crew.everyone):
            await call("POST", f"/work-orders/{wo}/notes", who, json=NOTE)
            photo = jpeg(seed=played.work_orders * 10 + i)
            files = {"file": ("p.jpg", photo, "image/jpeg")}
            await call("POST", f"/work-orders/{wo}/photos", who, files=files)
            await call("GET", f"/work-orders/{wo}/photos", who)
        await call("POST", f"/work-orders/{wo}/report", crew.leader, json=REPORT)
        played.work_orders += 1


async def restart(replica: Replica, played: Played) -> None:
    """SIGTERM: not ready at once, then gone with exit code 0; started again."""
    assert replica.proc is not None
    seen: list[object] = []
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(f"{replica.url}/readyz")).status_code == 200
        replica.proc.send_signal(signal.SIGTERM)
        for _ in range(200):
            try:
                seen.append((await client.get(f"{replica.url}/readyz")).status_code)
            except httpx.ConnectError:
                break  # it stopped listening
            except httpx.TransportError as exc:
                seen.append(repr(exc))
            await asyncio.sleep(0.02)
    assert 503 in seen, seen  # it said it was draining while it still served
    code = await asyncio.to_thread(replica.proc.wait, 60)
    assert code == 0, replica.log.read_text()[-2000:]
    replica.start()
    await replica.ready()


@pytest.mark.timeout(300)
async def test_replicas_restarted_in_turn_during_a_crew_flow_fail_no_request(
    replicas: dict[str, list[Replica]], crew: Crew
) -> None:
    for group in replicas.values():
        for replica in group:
            replica.start()
    await asyncio.gather(*(r.ready() for group in replicas.values() for r in group))
    (gateway,) = replicas["gateway"]
    played, stop = Played(), asyncio.Event()
    limits = httpx.Limits(keepalive_expiry=2)
    async with httpx.AsyncClient(
        base_url=f"{gateway.url}/api/v1", timeout=30, limits=limits
    ) as api:
        crews = asyncio.gather(*(play(api, crew, played, stop) for _ in range(2)))
        # one replica of each service at a time: the other one of each serves meanwhile
        for pair in zip(replicas["team"], replicas["photos"], strict=True):
            before = len(played.statuses)
            for _ in range(600):  # some traffic since the last restarts
                if len(played.statuses) >= before + 8 or played.failures:
                    break
                await asyncio.sleep(0.1)
            await asyncio.gather(*(restart(replica, played) for replica in pair))
        stop.set()
        await crews
    assert played.failures == []
    assert played.work_orders >= 2 and len(played.statuses) > 40
