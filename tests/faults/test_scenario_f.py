"""The CI size of fault scenario f (``make chaos`` runs the full size; the scenarios are
described in tests/faults/README.md). One file per scenario, so that the two test processes
of ``make test`` can run scenarios side by side. It starts its own servers and services."""

from __future__ import annotations

import pytest

from tests.faults.catalogue import scenario
from tests.faults.whole import assert_whole


@pytest.mark.timeout(400)
async def test_f_nats_server_and_postgres_killed() -> None:
    outcome = await scenario("f", full=False)
    assert_whole(outcome)
    victims = outcome.faults["victims"]
    assert victims["nats"] >= 2 and victims["postgres"] >= 2
