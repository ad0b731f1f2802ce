"""What ``fieldcrew status`` prints from the supervisor's status file (pure: no processes)."""

from __future__ import annotations

import os

from fieldcrew_cli.status import EXIT_NOT_READY, EXIT_NOT_RUNNING, EXIT_OK, duration, render
from fieldcrew_cli.supervisor import RestartPolicy, how_it_ended

NOW = 1_800_000_000.0


def row(name: str, **changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": name, "pid": 4242, "up_since": NOW - 75, "restarts": 0, "ready": True,
        "detail": "", "last_exit": None, "last_exit_at": None,
    }  # fmt: skip
    return base | changes


def doc(*rows: dict[str, object], updated: float = NOW - 0.5) -> dict[str, object]:
    return {"pid": os.getpid(), "started": NOW - 3700, "updated": updated, "processes": rows}


def test_every_process_with_pid_uptime_restarts_and_readiness() -> None:
    team = row("team", pid=77, up_since=NOW - 4, restarts=2, last_exit="killed by SIGKILL",
               last_exit_at=NOW - 5)  # fmt: skip
    aggregator = row("aggregator", ready=False, detail="503 postgres: not reachable")
    text, code = render(doc(row("nats"), team, aggregator), NOW)
    lines = text.splitlines()
    assert lines[0] == f"fieldcrew run (pid {os.getpid()}) up 1h01m"
    assert lines[2].split() == ["nats", "4242", "1m15s", "0", "yes"]
    assert lines[3].split()[:5] == ["team", "77", "4s", "2", "yes"]
    assert lines[3].endswith("last exit: killed by SIGKILL, 5s ago")
    assert lines[4].endswith("no (503 postgres: not reachable)")
    assert code == EXIT_NOT_READY


def test_all_ready_is_exit_code_0_and_a_silent_supervisor_is_not_running() -> None:
    assert render(doc(row("nats"), row("team")), NOW)[1] == EXIT_OK
    text, code = render(doc(row("nats"), updated=NOW - 60), NOW)
    assert (text, code) == ("fieldcrew run is not running (last status 1m00s ago)", 3)
    assert code == EXIT_NOT_RUNNING


def test_durations_and_how_a_process_ended() -> None:
    assert [duration(s) for s in (0, 59, 61, 3599, 3600 * 25)] == [
        "0s", "59s", "1m01s", "59m59s", "1d01h",
    ]  # fmt: skip
    assert how_it_ended(-9) == "killed by SIGKILL"
    assert how_it_ended(3) == "exited with code 3"
    assert how_it_ended(-65) == "killed by signal 65"


def test_the_backoff_doubles_up_to_its_cap() -> None:
    policy = RestartPolicy()
    assert [policy.delay(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
