"""How a scenario runs (the scenarios themselves: :mod:`tests.faults.catalogue`).

A scenario starts its own system, plays crews through the gateway while its faults run,
keeps playing until it has played its work orders and its faults are satisfied, mends what
the faults broke, then waits for the projection to settle and checks everything
(:mod:`tests.faults.checker`), plus what the scenario checks itself while its system is up.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.faults.checker import Verdict, check
from tests.faults.driver import Driver, Plan
from tests.faults.faults import Fault
from tests.faults.ledger import Ledger
from tests.faults.system import Options, System

SEED = 20261212


@dataclass
class Outcome:
    """One scenario's run: what was played, what was done to it, what the checks found."""

    scenario: str
    size: str
    seed: int
    seconds: float = 0.0
    ledger: Ledger = field(default_factory=Ledger)
    verdict: Verdict = field(default_factory=Verdict)
    faults: dict[str, Any] = field(default_factory=dict)
    stall: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    poison: dict[int, str] = field(default_factory=dict)  # published: seq -> kind


@dataclass
class Run:
    """What a scenario's body gets: its system, its driver and its ledger. ``checks`` are
    the scenario's own, run after the common ones while the system is still up; each returns
    the problems it found."""

    system: System
    driver: Driver
    ledger: Ledger
    rng: random.Random
    outcome: Outcome
    checks: list[Callable[[], Awaitable[list[str]]]] = field(default_factory=list)


async def drive(run: Run, orders: int, faults: list[Fault]) -> None:
    """Crews play until ``orders`` work orders were started and every fault is satisfied;
    then the faults stop (and mend) and the system must be whole again."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(f.run(stop)) for f in faults]

    def enough() -> bool:
        return run.driver.started >= orders and all(f.satisfied for f in faults)

    began = time.monotonic()
    try:
        await run.driver.run(enough)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    run.outcome.stall = run.ledger.longest_stall(began, time.monotonic())
    for fault in faults:
        run.outcome.faults.update(fault.summary())
    await run.system.wait_ready(within=120.0)


Body = Callable[[Run, bool], Awaitable[None]]


async def play_scenario(
    name: str, full: bool, body: Body, *, options: Options | None = None, crews: int = 8,
    crew_size: int = 4, settle_timeout: float = 60.0, seed: int = SEED,
) -> Outcome:  # fmt: skip
    """Start the system, run ``body``, check; the system is gone when this returns."""
    outcome = Outcome(name, "full" if full else "ci", seed)
    began = time.monotonic()
    system = await asyncio.to_thread(System(options).start)
    phases = outcome.extra["phases_s"] = {"start": round(time.monotonic() - began, 1)}
    try:
        plan = Plan(crews=crews, crew_size=crew_size)
        driver = Driver(system, outcome.ledger, plan, seed=seed, tag=f"{name}{seed}")
        run = Run(system, driver, outcome.ledger, random.Random(seed), outcome)
        mark = time.monotonic()
        await body(run, full)
        phases["play"] = round(time.monotonic() - mark, 1)
        mark = time.monotonic()
        outcome.verdict = await check(
            system.nats_admin_url,
            system.database_url,
            outcome.ledger,
            settle_timeout,
            outcome.poison,
        )
        for extra_check in run.checks:
            for problem in await extra_check():
                outcome.verdict.problem(problem)
        phases["check"] = round(time.monotonic() - mark, 1)
    except BaseException:
        print(system.log_tails(), flush=True)
        raise
    finally:
        outcome.extra["restarts"] = system.restarts()
        mark = time.monotonic()
        await asyncio.to_thread(system.close)
        phases["close"] = round(time.monotonic() - mark, 1)
    outcome.seconds = time.monotonic() - began
    return outcome
