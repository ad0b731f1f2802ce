"""The CI size of fault scenario c (``make chaos`` runs the full size; the scenarios are
described in tests/faults/README.md). One file per scenario, so that the two test processes
of ``make test`` can run scenarios side by side. It starts its own servers and services."""

from __future__ import annotations

import pytest

from tests.faults.catalogue import scenario
from tests.faults.whole import assert_whole


@pytest.mark.timeout(400)
async def test_c_postgres_stopped() -> None:
    outcome = await scenario("c", full=False)
    assert_whole(outcome)  # includes: reads 503 with Retry-After in time, commands all 2xx
    outage = outcome.extra["outage"]
    assert outcome.faults["outage_s"] >= 15 and outage["reads_503"] > 0
    assert outage["commands_acked"] > 0 and outcome.extra["caught_up_after_s"] <= 30
