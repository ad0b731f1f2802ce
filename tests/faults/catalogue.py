"""The scenarios, each in a full size (``make chaos``) and a CI size (``make test``)."""

from __future__ import annotations

from typing import Any

from fieldcrew_cli.stack import SERVICES

from tests.faults.faults import Catchup, Killer, Outage, Prober, Writer
from tests.faults.leader import LeaderLoss
from tests.faults.outages import objects_missing, outage_problems
from tests.faults.poison import KINDS, Poisoner, Redeliveries
from tests.faults.scenarios import SEED, Body, Outcome, Run, drive, play_scenario
from tests.faults.system import Options

CI_CREW_SIZE = 3
READ_ANSWER_WITHIN = 5.0  # seconds: a read during an outage is a quick, honest 503
CONVERGE_WITHIN = 30.0  # seconds after the server is back: every report compiled


async def kill_services(run: Run, full: bool) -> None:
    """a. ``kill -9`` of a random service every 10-30 s (CI 3-8 s)."""
    every, at_least, orders = ((10.0, 30.0), 20, 5000) if full else ((3.0, 8.0), 5, 200)
    killer = Killer(run.system, run.rng, SERVICES, every, at_least)
    await drive(run, orders, [killer])


async def leader_losses(run: Run, full: bool) -> None:
    """b. On a 3-node cluster with the stream on 3 replicas, the node leading the stream lost
    every 5-15 s (CI: 1-3 s, three times), ``kill -9`` and ``SIGSTOP`` by turns, and brought
    back: nothing acknowledged lost, appends go on."""
    every, at_least, orders = ((5.0, 15.0), 20, 400) if full else ((1.0, 3.0), 3, 60)
    losses = LeaderLoss(run.system, run.rng, every, at_least, None if full else at_least)
    await drive(run, orders, [losses])
    run.outcome.extra["leader_losses"] = losses.report(run.ledger)

    async def problems() -> list[str]:
        return losses.problems(run.ledger)

    run.checks.append(problems)


async def postgres_stopped(run: Run, full: bool) -> None:
    """c. PostgreSQL stopped for 60 s (CI 15 s): reads 503 with Retry-After quickly,
    commands unaffected, the projection caught up soon after."""
    await _outage(run, "postgres", 60.0 if full else 15.0, 400 if full else 60)


async def s3_stopped(run: Run, full: bool) -> None:
    """d. S3 stopped for 60 s (CI 15 s): uploads 503 quickly, no event names an object that
    is not there, everything converges after."""
    await _outage(run, "s3", 60.0 if full else 15.0, 400 if full else 60)
    run.checks.append(lambda: objects_missing(run.system, run.ledger))


async def _outage(run: Run, server: str, seconds: float, orders: int) -> None:
    outage = Outage(run.system, server, seconds, after=5.0)
    prober = Prober(run.system, run.ledger)
    catchup = Catchup(run.system, outage)
    await drive(run, orders, [outage, prober, catchup, Writer(run.driver)])
    run.outcome.extra["outage"] = _measured(run, outage, prober)
    run.outcome.extra["caught_up_after_s"] = catchup.seconds

    async def problems() -> list[str]:
        found = outage_problems(run.ledger, outage, prober, READ_ANSWER_WITHIN)
        if catchup.seconds is None or catchup.seconds > CONVERGE_WITHIN:
            found.append(f"the projection caught up {catchup.seconds} s after {server} came back")
        return found

    run.checks.append(problems)


def _measured(run: Run, outage: Outage, prober: Prober) -> dict[str, Any]:
    reads = [a for _, a in prober.answers if outage.during(a.at)]
    commands = [a for a in run.ledger.answers if outage.during(a.at)]
    acked = [a for a in run.ledger.acks if outage.during(a.acked)]
    return {
        "reads": len(reads),
        "reads_503": sum(a.status == 503 for a in reads),
        "slowest_read_s": round(max((a.seconds for a in reads), default=0.0), 2),
        "command_answers": len(commands),
        "commands_acked": len(acked),
    }


async def server_kills(run: Run, full: bool) -> None:
    """f. ``kill -9`` of nats-server (one node) and of PostgreSQL, by turns."""
    every, at_least, orders = ((10.0, 20.0), 20, 1000) if full else ((4.0, 8.0), 4, 60)
    killer = Killer(run.system, run.rng, ("nats", "postgres"), every, at_least, alternate=True)
    await drive(run, orders, [killer])


async def bus_faults(run: Run, full: bool) -> None:
    """e. Poison published with the admin user (1% of the events), redeliveries forced
    (a short ack wait, one of two aggregator replicas paused past it)."""
    orders, pauses = (1000, 20) if full else (100, 3)
    poisoner = Poisoner(run.system, run.ledger, run.rng, at_least=len(KINDS))
    redeliveries = Redeliveries(run.system, run.rng, at_least=pauses)
    await drive(run, orders, [poisoner, redeliveries])
    run.outcome.poison = dict(poisoner.published)


SCENARIOS: dict[str, tuple[str, Body, dict[str, Any]]] = {
    "a": ("kill -9 of a random service", kill_services, {"crews": 16}),
    "b": ("kill -9 or SIGSTOP of the NATS node leading the stream (3 nodes, R3)", leader_losses,
          {"crews": 16, "options": Options(nats_nodes=3)}),
    "c": ("PostgreSQL stopped", postgres_stopped, {}),
    "d": ("S3 stopped", s3_stopped, {}),
    "e": ("poison events, forced redeliveries, two aggregators", bus_faults,
          {"options": Options(aggregator_replicas=2)}),
    "f": ("kill -9 of nats-server and of PostgreSQL", server_kills, {}),
}  # fmt: skip


async def scenario(key: str, full: bool, seed: int = SEED) -> Outcome:
    """Run scenario ``key`` in its full or CI size over a system of its own."""
    _, body, kwargs = SCENARIOS[key]
    kwargs = dict(kwargs)
    if not full:  # fewer requests per work order, fewer at once: CI time on 2 cores
        kwargs["crews"], kwargs["crew_size"] = min(kwargs.get("crews", 8), 8), CI_CREW_SIZE
    return await play_scenario(key, full, body, seed=seed, **kwargs)
