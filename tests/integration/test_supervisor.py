"""The supervisor of ``fieldcrew run``, with real processes: the five services over the
session's servers, killed with SIGKILL and restarted; a process that keeps dying stops
everything with a message; ``fieldcrew status`` shows what the supervisor sees."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from fieldcrew_cli.main import main
from fieldcrew_cli.servers import Infra
from fieldcrew_cli.servers.process import spawn
from fieldcrew_cli.stack import SERVICES, Stack, service_env
from fieldcrew_cli.status import STATUS_FILE
from fieldcrew_cli.supervisor import Child, CrashLoopError, Readiness, RestartPolicy, Supervisor

from tests.conftest import TokenFactory, bearer
from tests.e2e.conftest import free_port


def python_child(name: str, code: str, logs: Path, *, ready: bool = True) -> Child:
    """A Python one-liner as a child; ready while it runs (or never, ``ready=False``)."""
    argv = [sys.executable, "-c", code]

    def probe(proc: object) -> Readiness:
        return Readiness(ready, "" if ready else "never ready")

    return Child(name, lambda: spawn(name, argv, log_dir=logs, cwd=logs), probe)


@pytest.fixture
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fieldcrew-supervisor-") as path:
        yield Path(path)


@pytest.fixture
def supervised(
    infra: Infra, keys: tuple[Path, Path], folder: Path
) -> Iterator[tuple[Stack, Supervisor]]:
    """The five services on free ports under a supervisor writing ``<folder>/status.json``."""
    stack = Stack(logs=folder / "logs", env={}, ports={name: free_port() for name in SERVICES})
    stack.env = service_env(infra, keys[1], stack.ports)
    supervisor = Supervisor(status_file=folder / STATUS_FILE)
    try:
        supervisor.start(stack.children())
        yield stack, supervisor
    finally:
        supervisor.stop()


def status_of(folder: Path, name: str) -> dict[str, object]:
    doc = json.loads((folder / STATUS_FILE).read_text())
    return next(row for row in doc["processes"] if row["name"] == name)


def ready(port: int) -> bool:
    """Whether the process on ``port`` answers its readiness probe with 200."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_killed_service_is_restarted_and_the_system_answers_again(
    supervised: tuple[Stack, Supervisor],
    folder: Path,
    token: TokenFactory,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack, supervisor = supervised
    caplog.set_level(logging.INFO, logger="fieldcrew.supervisor")
    old = supervisor.pid("team")
    assert old is not None
    os.kill(old, signal.SIGKILL)
    new = supervisor.wait_restarted("team", old)
    assert new != old and psutil.Process(new).is_running()
    said = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("team killed by SIGKILL after") and "restarting in 0.5 s" in m
               for m in said), said  # fmt: skip
    assert f"team restarted (pid {new}, restart 1)" in said

    gateway = f"http://127.0.0.1:{stack.ports['gateway']}/api/v1"
    dora, lena = token("dora", "dispatcher"), token("lena-sup", "technician")
    crew = {"leader": "lena-sup", "members": ["max-sup"]}
    body = {"title": "Valve V-7 stuck", "site": "Plant 9", "asset": "V-7", "crew": crew}
    issued = httpx.post(f"{gateway}/work-orders", json=body, headers=bearer(dora), timeout=30)
    assert issued.status_code == 201, issued.text
    note = {"findings": "seized stem", "actions": "freed it", "labour_minutes": 20}
    wo = issued.json()["id"]
    added = httpx.post(f"{gateway}/work-orders/{wo}/notes", json=note, headers=bearer(lena),
                       timeout=30)  # fmt: skip
    assert added.status_code == 201, added.text  # served by the restarted team service

    wait_for(lambda: status_of(folder, "team")["pid"] == new)
    wait_for(lambda: ready(stack.ports["team"]) and ready(stack.ports["gateway"]))
    monkeypatch.setenv("FIELDCREW_DATA_DIR", str(folder))
    deadline = time.monotonic() + 30  # the gateway's view of team catches up on its own
    while True:
        with pytest.raises(SystemExit) as ended:  # `fieldcrew status`, in this process
            main(["status"])
        shown = capsys.readouterr().out
        if ended.value.code == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert ended.value.code == 0, shown
    lines = {line.split()[0]: line.split() for line in shown.splitlines()[2:]}
    assert set(lines) == set(SERVICES)
    assert lines["team"][1:2] == [str(new)] and lines["team"][3:5] == ["1", "yes"]
    assert "last exit: killed by SIGKILL" in " ".join(lines["team"])
    assert lines["dispatch"][1] == str(supervisor.pid("dispatch"))
    assert lines["dispatch"][3:5] == ["0", "yes"]


def test_a_crash_loop_stops_everything_with_a_clear_message(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fieldcrew.supervisor")
    policy = RestartPolicy(first_delay=0.1, max_delay=0.4, loop_exits=5, loop_window=60)
    supervisor = Supervisor(policy, poll=0.02)
    try:
        supervisor.start([python_child("steady", "import time; time.sleep(300)", folder)])
        steady = psutil.Process(supervisor.pid("steady"))
        crashing = "import sys; print('cannot read my settings', flush=True); sys.exit(3)"
        with pytest.raises(CrashLoopError) as failed:
            supervisor.start([python_child("flaky", crashing, folder, ready=False)])
    finally:
        supervisor.stop()
    message = str(failed.value)
    assert message.startswith(
        "flaky is crash-looping: it ended 5 times within 60 s (last: exited with code 3); "
        "stopping everything."
    )
    assert "cannot read my settings" in message  # the tail of its log
    assert supervisor.wait(0) is failed.value
    assert not steady.is_running()  # the whole stack stopped
    waits = [r.getMessage().rsplit("restarting in ", 1)[1] for r in caplog.records
             if r.getMessage().startswith("flaky exited with code 3")]  # fmt: skip
    assert waits == ["0.1 s", "0.2 s", "0.4 s", "0.4 s"]  # doubling, capped; the 5th: loop


def test_the_wait_resets_once_a_process_stayed_up(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fieldcrew.supervisor")
    policy = RestartPolicy(first_delay=0.1, max_delay=10, stable_after=1.0)
    supervisor = Supervisor(policy, poll=0.02)
    try:
        supervisor.start([python_child("worker", "import time; time.sleep(300)", folder)])
        for _ in range(3):  # killed quickly: 0.1, 0.2, 0.4 s
            pid = supervisor.pid("worker")
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            supervisor.wait_restarted("worker", pid, timeout=30)
        pid = supervisor.pid("worker")
        assert pid is not None
        up_since = next(row.up_since for row in supervisor.rows() if row.name == "worker")
        assert up_since is not None
        wait_for(lambda: time.time() - up_since > 1.5)  # up longer than stable_after
        os.kill(pid, signal.SIGKILL)
        supervisor.wait_restarted("worker", pid, timeout=30)
    finally:
        supervisor.stop()
    waits = [r.getMessage().rsplit("restarting in ", 1)[1] for r in caplog.records
             if r.getMessage().startswith("worker killed by SIGKILL")]  # fmt: skip
    assert waits == ["0.1 s", "0.2 s", "0.4 s", "0.1 s"]


def test_a_child_held_down_stays_down_until_released(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fieldcrew.supervisor")
    policy = RestartPolicy(first_delay=0.05, max_delay=0.05, loop_exits=2)
    supervisor = Supervisor(policy, poll=0.02)
    try:
        supervisor.start([python_child("server", "import time; time.sleep(300)", folder)])
        pid = supervisor.pid("server")
        assert pid is not None
        for _ in range(3):  # more than loop_exits: an outage on purpose is no crash loop
            supervisor.hold_down("server")
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
            wait_for(lambda: any("held down" in r.getMessage() for r in caplog.records))
            # many times the restart delay and the monitor's poll: still down
            time.sleep(0.5)
            assert supervisor.pid("server") is None
            supervisor.release("server")
            pid = supervisor.wait_restarted("server", pid, timeout=30)
            caplog.clear()
        assert supervisor.wait(0) is None
    finally:
        supervisor.stop()
