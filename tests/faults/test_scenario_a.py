"""The CI size of fault scenario a (``make chaos`` runs the full size; the scenarios are
described in tests/faults/README.md). One file per scenario, so that the two test processes
of ``make test`` can run scenarios side by side. It starts its own servers and services."""

from __future__ import annotations

import pytest

from tests.faults.catalogue import scenario
from tests.faults.whole import assert_whole


@pytest.mark.timeout(400)
async def test_a_services_killed_at_random() -> None:
    outcome = await scenario("a", full=False)
    assert_whole(outcome)
    assert outcome.verdict.orders >= 200
    assert outcome.faults["kills"] >= 5
    assert sum(outcome.extra["restarts"].values()) >= outcome.faults["kills"]  # all came back
