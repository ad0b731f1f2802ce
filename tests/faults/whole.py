"""What every fault scenario's test asserts of its outcome."""

from __future__ import annotations

from tests.faults.catalogue import CI_CREW_SIZE
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
