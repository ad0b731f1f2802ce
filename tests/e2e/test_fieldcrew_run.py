"""``fieldcrew run`` as a user runs it (``make run``), on its own data dir and ports: a
service and the NATS server killed with SIGKILL are restarted and the system answers again;
Ctrl-C stops every process and keeps the data for the next run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psutil
import pytest
from fieldcrew_cli import local
from fieldcrew_cli.servers.ports import free_base
from fieldcrew_cli.stack import SERVICES
from fieldcrew_shared.auth import Role, mint
from fieldcrew_shared.eventstore import STREAM, connect

from tests.conftest import bearer


class Run:
    """One ``fieldcrew run`` process and what it shows."""

    def __init__(self, data: Path, base: int, nats_nodes: int = 1) -> None:
        self.data, self.base, self.nats_nodes = data, base, nats_nodes
        self.output = data.parent / "run.out"

    @property
    def processes(self) -> set[str]:
        nats = ["nats"] if self.nats_nodes == 1 else [f"nats-{i + 1}" for i in range(3)]
        return {*nats, "s3", "postgres", *SERVICES}

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.base}/api/v1"

    def status(self) -> dict[str, dict[str, Any]]:
        try:
            doc = json.loads((self.data / "status.json").read_text())
        except FileNotFoundError:
            return {}
        return {row["name"]: row for row in doc["processes"]}

    def wait_until(self, proc: subprocess.Popen[bytes], condition: Any, what: str) -> None:
        deadline = time.monotonic() + 120
        while not condition(self.status()):
            assert proc.poll() is None, f"fieldcrew run ended: {self.output.read_text()}"
            assert time.monotonic() < deadline, f"not {what} in time: {self.status()}"
            time.sleep(0.1)

    def settings(self) -> dict[str, str]:
        """The run's ``run.env`` as written (``local.read_env`` would lay this test process's
        own ``FIELDCREW_*`` variables over it, set by other tests' fixtures)."""
        lines = (self.data / "run.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def token(self, sub: str, role: Role) -> str:
        private = (self.data / "keys" / "jwt-private.pem").read_bytes()
        return mint(private, sub=sub, role=role, issuer=local.ISSUER, audience=local.AUDIENCE)


@contextmanager
def fieldcrew_run(run: Run) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDCREW_")}
    env |= {"FIELDCREW_DATA_DIR": str(run.data), "FIELDCREW_PORT_BASE": str(run.base)}
    env |= {"FIELDCREW_NATS_NODES": str(run.nats_nodes)}
    with run.output.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "fieldcrew_cli", "run"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        run.wait_until(proc, lambda rows: restarted(run, rows, ()), "all ready")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait(60)


def restarted(run: Run, rows: dict[str, dict[str, Any]], killed: tuple[str, ...]) -> bool:
    """All of ``run``'s processes ready, the ``killed`` ones restarted once, no other one."""
    return (
        set(rows) == run.processes
        and all(row["ready"] for row in rows.values())
        and all(row["restarts"] == (1 if name in killed else 0) for name, row in rows.items())
    )


@pytest.mark.timeout(600)  # two whole starts: ~35 s on a quiet machine, minutes on a busy one
def test_make_run_survives_sigkill_and_keeps_its_data_after_ctrl_c() -> None:
    with tempfile.TemporaryDirectory(prefix="fieldcrew-run-") as folder:
        run = Run(Path(folder) / "data", free_base())
        with fieldcrew_run(run) as proc:
            dora, lena = run.token("dora", Role.dispatcher), run.token("lena", Role.technician)
            crew = {"leader": "lena", "members": ["max"]}
            order = {"title": "Pump P-9 leaks", "site": "Plant 2", "asset": "P-9", "crew": crew}
            issued = httpx.post(f"{run.api}/work-orders", json=order, headers=bearer(dora))
            assert issued.status_code == 201, issued.text
            wo = issued.json()["id"]

            killed = ("team", "nats")
            before = run.status()
            for name in killed:
                os.kill(before[name]["pid"], signal.SIGKILL)
            run.wait_until(proc, lambda rows: restarted(run, rows, killed), "restarted")
            note = {"findings": "cracked seal", "actions": "replaced it", "labour_minutes": 30}
            added = httpx.post(
                f"{run.api}/work-orders/{wo}/notes", json=note, headers=bearer(lena), timeout=30
            )
            assert added.status_code == 201, added.text
            pids = [row["pid"] for row in run.status().values()]
            proc.send_signal(signal.SIGINT)
            assert proc.wait(60) == 0
        assert not any(psutil.pid_exists(pid) for pid in pids)
        said = run.output.read_text()
        assert "team killed by SIGKILL after" in said and "nats killed by SIGKILL after" in said
        assert "team restarted (pid" in said and "stopping fieldcrew" in said

        with fieldcrew_run(run):  # the same data dir: the work order and its note are there
            deadline = time.monotonic() + 30
            while True:  # the projection catches up with the log after the start
                got = httpx.get(f"{run.api}/work-orders/{wo}", headers=bearer(dora))
                assert got.status_code == 200, got.text
                if got.json()["notes"] == 1 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert got.json()["notes"] == 1, got.json()


@pytest.mark.timeout(600)
def test_make_run_with_three_nats_nodes_survives_losing_the_stream_leader() -> None:
    with tempfile.TemporaryDirectory(prefix="fieldcrew-run3-") as folder:
        run = Run(Path(folder) / "data", free_base(), nats_nodes=3)
        with fieldcrew_run(run) as proc:
            admin = run.settings()["FIELDCREW_NATS_URL"]
            assert admin.count(",") == 2  # the services were given all three nodes too
            replicas, leader = asyncio.run(stream_replicas_and_leader(admin))
            assert replicas == 3 and leader in run.processes
            os.kill(run.status()[leader]["pid"], signal.SIGKILL)
            dora = run.token("dora", Role.dispatcher)
            crew = {"leader": "lena", "members": ["max"]}
            order = {"title": "Fan F-2 noisy", "site": "Plant 3", "asset": "F-2", "crew": crew}
            headers = {**bearer(dora), "Idempotency-Key": str(uuid4())}
            deadline = time.monotonic() + 60
            while (answer := httpx.post(f"{run.api}/work-orders", json=order, headers=headers,
                                        timeout=30)).status_code == 503:  # fmt: skip
                assert time.monotonic() < deadline, answer.text  # a new leader is elected
                time.sleep(0.2)
            assert answer.status_code == 201, answer.text
            run.wait_until(proc, lambda rows: restarted(run, rows, (leader,)), "restarted")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(60) == 0


async def stream_replicas_and_leader(admin_urls: str) -> tuple[int, str]:
    nc = await connect(admin_urls, name="test-run-cluster")
    try:
        info = await nc.jetstream().stream_info(STREAM)
    finally:
        await nc.drain()
    assert info.cluster is not None and info.cluster.leader is not None
    return info.config.num_replicas, info.cluster.leader
