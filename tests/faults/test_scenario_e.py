"""The CI size of fault scenario e (``make chaos`` runs the full size; the scenarios are
described in tests/faults/README.md). One file per scenario, so that the two test processes
of ``make test`` can run scenarios side by side. It starts its own servers and services."""

from __future__ import annotations

import pytest

from tests.faults.catalogue import scenario
from tests.faults.poison import KINDS
from tests.faults.whole import assert_whole


@pytest.mark.timeout(400)
async def test_e_poison_and_redeliveries() -> None:
    outcome = await scenario("e", full=False)
    assert_whole(outcome)
    assert len(outcome.poison) >= len(KINDS)
    assert set(outcome.verdict.dead_letters) == set(outcome.poison)  # each with its reason
    assert outcome.faults["redelivered"] > 0
