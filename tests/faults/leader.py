"""Scenario b's fault: the NATS node that leads the event log's stream, on a 3-node cluster
with the stream on 3 replicas, is lost (``kill -9`` and ``SIGSTOP``, by turns) and brought
back; who led, who took over and how long the commands waited, loss by loss.

The leader is what JetStream itself says: ``cluster.leader`` of the stream's info, which the
stream's leader answers (nobody answers while the stream has none).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from fieldcrew_cli.servers.nats_cluster import NatsCluster
from fieldcrew_shared.errors import BackendUnavailableError
from fieldcrew_shared.eventstore import STREAM, connect
from nats.errors import Error as NatsError

from tests.faults.faults import pause_unless
from tests.faults.ledger import Ledger
from tests.faults.system import System

KILL, STOP = "kill -9", "SIGSTOP"
ASK_WITHIN = 1.0  # seconds for one stream info request; none comes while there is no leader
WAIT_FOR = 120.0  # seconds: a new leader elected, the lost node current again


@dataclass
class Loss:
    """One leader lost: when, how, who took over, and after how long (seconds from ``at``)."""

    node: str
    how: str
    at: float  # time.monotonic()
    new_leader: str | None = None
    elected_s: float | None = None  # another node leads the stream
    back_s: float | None = None  # the lost node runs and is current with the cluster again

    def row(self, stall: float) -> dict[str, Any]:
        return {"node": self.node, "how": self.how, "new_leader": self.new_leader,
                "elected_s": _round(self.elected_s), "back_s": _round(self.back_s),
                "write_stall_s": round(stall, 2)}  # fmt: skip


@dataclass
class LeaderLoss:
    """The stream's leader lost ``every`` seconds (uniform, counted from the last lost node's
    return), at least ``at_least`` times and at most ``at_most``: ``kill -9`` (the supervisor
    restarts the node) and ``SIGSTOP`` (kept stopped until another node leads, then
    ``stopped_after`` seconds more, then ``SIGCONT``) by turns."""

    system: System
    rng: random.Random
    every: tuple[float, float]
    at_least: int
    at_most: int | None = None  # then the crews play on undisturbed (the CI size's time)
    stopped_after: float = 2.0
    losses: list[Loss] = field(default_factory=list)

    @property
    def satisfied(self) -> bool:
        return len(self.losses) >= self.at_least

    @property
    def cluster(self) -> NatsCluster:
        assert isinstance(self.system.nats, NatsCluster), "scenario b runs on a cluster"
        return self.system.nats

    async def run(self, stop: asyncio.Event) -> None:
        while not await pause_unless(stop, self.rng.uniform(*self.every)):
            if self.at_most is not None and len(self.losses) >= self.at_most:
                return
            leader = await self.leader([node.name for node in self.cluster.nodes])
            if leader is not None:
                await self._lose(leader)

    async def leader(self, asking: list[str]) -> str | None:
        """The node leading the stream, as the nodes named ``asking`` are told (None: no
        answer in time, no leader now)."""
        url = ",".join(self.cluster.node(name).url for name in asking)
        try:
            nc = await connect(url, name="chaos-leader-probe")
        except BackendUnavailableError:  # nobody to ask right now
            return None
        try:
            info = await nc.jetstream(timeout=ASK_WITHIN).stream_info(STREAM)
        except (NatsError, TimeoutError):  # no leader to answer, or not yet
            return None
        finally:
            await nc.close()
        return info.cluster.leader if info.cluster is not None else None

    async def _lose(self, node: str) -> None:
        how = (KILL, STOP)[len(self.losses) % 2]
        pid = self.system.supervisor.pid(node)
        if pid is None:
            return
        loss = Loss(node, how, time.monotonic())
        self.losses.append(loss)
        if how == KILL:
            self.system.kill(node)
        else:
            self.system.pause(node)
        try:
            await self._elected(loss, pid)
            if how == STOP:
                await asyncio.sleep(self.stopped_after)
        finally:
            if how == STOP:
                self.system.resume(node)
        if how == KILL:
            await asyncio.to_thread(self.system.supervisor.wait_restarted, node, pid, WAIT_FOR)
        await self._current(node)
        loss.back_s = time.monotonic() - loss.at

    async def _elected(self, loss: Loss, old_pid: int) -> None:
        """Wait until a node leads the stream again: another one, or the killed node after
        its restart (it comes back a follower, so leading again means it won an election)."""
        others = [n.name for n in self.cluster.nodes if n.name != loss.node]
        deadline = loss.at + WAIT_FOR
        while time.monotonic() < deadline:
            leader = await self.leader(others)
            restarted = self.system.supervisor.pid(loss.node) not in (None, old_pid)
            if leader is not None and (leader != loss.node or restarted):
                loss.new_leader, loss.elected_s = leader, time.monotonic() - loss.at
                return
            await asyncio.sleep(0.2)

    async def _current(self, node: str) -> None:
        """Wait until ``node`` answers its monitoring ``/healthz`` with 200: it runs, knows the
        cluster's JetStream meta leader and has caught its streams up."""
        port = self.cluster.node(node).monitor_port
        deadline = time.monotonic() + WAIT_FOR
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{node} was not current with the cluster in {WAIT_FOR} s")

    def report(self, ledger: Ledger) -> list[dict[str, Any]]:
        """Each loss with its write stall: the longest time without an acknowledged command
        in a gap between two acknowledgements that overlaps the loss (until the node's
        return)."""
        acked = sorted(a.acked for a in ledger.acks)
        return [loss.row(_stall_over(acked, loss)) for loss in self.losses]

    def problems(self, ledger: Ledger) -> list[str]:
        """A loss after which no other node took over, or after which no command was
        acknowledged before the next loss (appends must go on)."""
        acked = sorted(a.acked for a in ledger.acks)
        found = []
        for i, loss in enumerate(self.losses):
            if loss.new_leader is None:
                found.append(f"no leader of the stream within {WAIT_FOR} s after {loss.how} "
                             f"of {loss.node}")  # fmt: skip
            until = self.losses[i + 1].at if i + 1 < len(self.losses) else float("inf")
            first = bisect.bisect_right(acked, loss.at)
            if first == len(acked) or acked[first] >= until:
                found.append(f"no command acknowledged after {loss.how} of {loss.node}")
        return found

    def summary(self) -> dict[str, Any]:
        hows = {how: sum(loss.how == how for loss in self.losses) for how in (KILL, STOP)}
        elected = [loss.elected_s for loss in self.losses if loss.elected_s is not None]
        return {
            "node_losses": len(self.losses),
            "hows": hows,
            "elected_s_median": _round(statistics.median(elected) if elected else None),
            "elected_s_max": _round(max(elected, default=None)),
        }


def _stall_over(acked: list[float], loss: Loss) -> float:
    """The longest gap between consecutive acknowledgements that overlaps the loss's window,
    ``[loss.at, loss.at + back_s]``: from the last one before it to the first one after it.
    Without one before (after), the window's start (end) stands in."""
    end = loss.at + (loss.back_s or 0.0)
    lo, hi = bisect.bisect_right(acked, loss.at) - 1, bisect.bisect_left(acked, end)
    edges = acked[max(lo, 0) : hi + 1]
    if lo < 0:
        edges.insert(0, loss.at)
    if hi == len(acked):
        edges.append(end)
    return max((b - a for a, b in itertools.pairwise(edges)), default=0.0)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
