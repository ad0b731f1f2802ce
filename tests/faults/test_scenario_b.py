"""The CI size of fault scenario b (``make chaos`` runs the full size; the scenarios are
described in tests/faults/README.md). One file per scenario, so that the two test processes
of ``make test`` can run scenarios side by side. It starts its own servers and services."""

from __future__ import annotations

import pytest

from tests.faults.catalogue import scenario
from tests.faults.whole import assert_whole


@pytest.mark.timeout(400)
async def test_b_stream_leader_lost_on_a_three_node_cluster() -> None:
    outcome = await scenario("b", full=False)
    assert_whole(outcome)  # includes: a new leader after every loss, commands acked after it
    assert outcome.faults["node_losses"] >= 3
    assert outcome.faults["hows"]["kill -9"] >= 1 and outcome.faults["hows"]["SIGSTOP"] >= 1
    losses = outcome.extra["leader_losses"]
    assert all(loss["new_leader"] for loss in losses)
    assert any(loss["new_leader"] != loss["node"] for loss in losses)  # the leader moved
