"""The CI size of every fault scenario (``make chaos`` runs the full size): real processes
killed, paused and stopped while crews play, then every acknowledged command accounted for.
Each scenario starts its own servers and services and removes them after."""

from __future__ import annotations

import pytest

from tests.faults.catalogue import CI_CREW_SIZE, scenario
from tests.faults.poison import KINDS
from tests.faults.results import row, table
from tests.faults.scenarios import Outcome


def assert_whole(outcome: Outcome) -> None:
    """Nothing lost, nothing twice, every complete work order reported right, the rebuild
    equal to the live projection; the problems found are the failure message."""
    v = outcome.verdict
    summary = table([row(outcome)])
    assert v.ok, summary + "\n" + "\n".join(v.problems)
    assert v.lost == 0 and v.duplicated == 0 and v.rebuild_equal, summary
    assert v.complete == v.orders and v.reports_right == v.complete, summary
    per_order = 2 + 2 * CI_CREW_SIZE  # issue, a note and a photo each, the report
    assert v.acked >= v.orders * per_order, summary


@pytest.mark.timeout(400)
async def test_a_services_killed_at_random() -> None:
    outcome = await scenario("a", full=False)
    assert_whole(outcome)
    assert outcome.verdict.orders >= 200
    assert outcome.faults["kills"] >= 5
    assert sum(outcome.extra["restarts"].values()) >= outcome.faults["kills"]  # all came back


@pytest.mark.timeout(400)
async def test_e_poison_and_redeliveries() -> None:
    outcome = await scenario("e", full=False)
    assert_whole(outcome)
    assert len(outcome.poison) >= len(KINDS)
    assert set(outcome.verdict.dead_letters) == set(outcome.poison)  # each with its reason
    assert outcome.faults["redelivered"] > 0


@pytest.mark.timeout(400)
async def test_c_postgres_stopped() -> None:
    outcome = await scenario("c", full=False)
    assert_whole(outcome)  # includes: reads 503 with Retry-After in time, commands all 2xx
    outage = outcome.extra["outage"]
    assert outcome.faults["outage_s"] >= 15 and outage["reads_503"] > 0
    assert outage["commands_acked"] > 0 and outcome.extra["caught_up_after_s"] <= 30


@pytest.mark.timeout(400)
async def test_d_s3_stopped() -> None:
    outcome = await scenario("d", full=False)
    assert_whole(outcome)  # includes: uploads 503 with Retry-After in time, objects all there
    assert outcome.faults["outage_s"] >= 15 and outcome.extra["outage"]["reads_503"] == 0


@pytest.mark.timeout(400)
async def test_f_nats_server_and_postgres_killed() -> None:
    outcome = await scenario("f", full=False)
    assert_whole(outcome)
    victims = outcome.faults["victims"]
    assert victims["nats"] >= 2 and victims["postgres"] >= 2


@pytest.mark.timeout(400)
async def test_b_stream_leader_lost_on_a_three_node_cluster() -> None:
    outcome = await scenario("b", full=False)
    assert_whole(outcome)  # includes: a new leader after every loss, commands acked after it
    assert outcome.faults["node_losses"] >= 3
    assert outcome.faults["hows"]["kill -9"] >= 1 and outcome.faults["hows"]["SIGSTOP"] >= 1
    losses = outcome.extra["leader_losses"]
    assert all(loss["new_leader"] for loss in losses)
    assert any(loss["new_leader"] != loss["node"] for loss in losses)  # the leader moved
