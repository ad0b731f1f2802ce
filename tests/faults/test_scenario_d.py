"""The CI size of fault scenario d (``make chaos`` runs the full size; the scenarios are
described in tests/faults/README.md). One file per scenario, so that the two test processes
of ``make test`` can run scenarios side by side. It starts its own servers and services."""

from __future__ import annotations

import pytest

from tests.faults.catalogue import scenario
from tests.faults.whole import assert_whole


@pytest.mark.timeout(400)
async def test_d_s3_stopped() -> None:
    outcome = await scenario("d", full=False)
    assert_whole(outcome)  # includes: uploads 503 with Retry-After in time, objects all there
    assert outcome.faults["outage_s"] >= 15 and outcome.extra["outage"]["reads_503"] == 0
