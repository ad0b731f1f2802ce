"""After a scenario: the ledger against the log, the projection and a rebuild of it.

- Every acknowledged command is in the log exactly once (lost: not there; duplicated: more).
- Nothing is in the log twice that must be there once (notes, reports, photos per uploader,
  work orders, announced revisions), acknowledged or not.
- Every work order whose commands were all acknowledged has exactly one server report in the
  projection (one revision: its report came after its photos) and exactly one announcement
  of it in the log, equal to it, holding exactly the ledger's notes and photos with their
  uploaders, nothing missing.
- A rebuild of the projection equals the live one, every table and column.
- Every photo's copies are made, once (:mod:`tests.faults.copies`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from fieldcrew_photos.consumer import ACK_WAIT
from fieldcrew_shared.eventstore import EventStore, connect

from tests.faults.copies import copies_problems, wait_for_copies
from tests.faults.ledger import Ack, Ledger, Order
from tests.faults.logindex import LogIndex, read_log
from tests.faults.projection import Comparison, Live, compare_with_rebuild, read_live, settle

MAX_PROBLEMS = 40


@dataclass
class Verdict:
    """What the checks found; ``problems`` names the first of them."""

    orders: int = 0
    complete: int = 0
    acked: int = 0
    lost: int = 0
    duplicated: int = 0
    reports_right: int = 0
    rebuild_equal: bool = False
    settled_seconds: float | None = None
    copies_seconds: float | None = None  # after the settle: every photo's copies recorded
    log_events: int = 0
    poison_in_log: int = 0
    dead_letters: dict[int, str] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)

    @property
    def ok(self) -> bool:
        return (
            not self.lost and not self.duplicated and self.rebuild_equal
            and self.reports_right == self.complete and self.settled_seconds is not None
            and not self.problems
        )  # fmt: skip


async def check(
    nats_url: str,
    database_url: str,
    ledger: Ledger,
    settle_timeout: float,
    poison: dict[int, str] | None = None,
) -> Verdict:
    """Wait for the projection to settle, then run every check. ``poison``: the sequences
    of the poison events published (each must be dead-lettered, nothing else may be)."""
    nc = await connect(nats_url, name="faults-checker")
    store = EventStore(nc, source="faults/checker", timeout=30.0)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    verdict = Verdict(orders=len(ledger.orders), complete=len(ledger.complete_orders))
    try:
        # the copies first: their events are in the log the projection must then catch up with
        # a delivery lost with a NATS node comes again only after the worker's ack wait
        within = max(settle_timeout, ACK_WAIT + 30.0)
        verdict.copies_seconds = await wait_for_copies(store, within, poison or {})
        verdict.settled_seconds = await settle(pool, store, settle_timeout)
        if verdict.settled_seconds is None:
            verdict.problem(f"the projection did not catch up with the log in {settle_timeout} s")
        index = await read_log(store, poison or {})
        for text in copies_problems(index):
            verdict.problem(text)
        live = await read_live(pool)
        verdict.log_events, verdict.poison_in_log = index.events, len(index.poison)
        verdict.dead_letters = live.dead_letters
        check_acks(verdict, ledger, index)
        check_dead_letters(verdict, live.dead_letters, poison or {})
        for dup in index.duplicates():
            verdict.duplicated += 1
            verdict.problem(f"duplicated in the log: {dup}")
        for order in ledger.complete_orders:
            check_report(verdict, order, index, live)
        check_rebuild(verdict, await compare_with_rebuild(pool, store))
    finally:
        await pool.close()
        await nc.drain()
    for note in ledger.unexpected:
        verdict.problem(f"driver: {note}")
    return verdict


def check_acks(verdict: Verdict, ledger: Ledger, index: LogIndex) -> None:
    """Each acknowledged command's event, in the log once (more than once is counted by
    :meth:`LogIndex.duplicates`)."""
    for ack in ledger.acks:
        verdict.acked += 1
        if _times_in_log(ack, index) == 0:
            verdict.lost += 1
            verdict.problem(f"lost: acknowledged {ack.kind} {ack.entity} of {ack.work_order}")


def _times_in_log(ack: Ack, index: LogIndex) -> int:
    wo = ack.work_order
    if ack.kind == "issue":
        return index.issued[wo]
    if ack.kind == "note":
        return sum(1 for seen in index.notes.get(ack.entity, []) if seen == (wo, ack.actor))
    if ack.kind == "report":
        return sum(1 for r in index.reports.get(wo, []) if str(r.report_id) == ack.entity)
    return index.photos[(wo, ack.entity, ack.actor)]


def check_report(verdict: Verdict, order: Order, index: LogIndex, live: Live) -> None:
    """One revision in the projection, announced once, equal, holding the ledger's notes
    and photos with their uploaders."""
    wo = order.id
    revisions = live.reports.get(wo, [])
    announced = index.compiled.get(wo, [])
    if not revisions:
        verdict.lost += 1
        verdict.problem(f"lost: no server report for {wo} (status {live.statuses.get(wo)})")
        return
    if len(revisions) > 1:
        verdict.duplicated += len(revisions) - 1
        verdict.problem(f"{wo} has {len(revisions)} revisions, not one")
    revision, report = revisions[0]
    if not announced:
        verdict.lost += 1
        verdict.problem(f"lost: revision {revision} of {wo} never announced")
    elif announced[0][1] != report:
        verdict.problem(f"the announcement of {wo} differs from its report in the projection")
    wrong = _content_problems(order, report)
    for text in wrong:
        verdict.problem(f"report of {wo}: {text}")
    if not wrong and len(revisions) == 1 and announced:
        verdict.reports_right += 1


def _content_problems(order: Order, report: dict[str, Any]) -> list[str]:
    out = []
    if report.get("missing"):
        out.append(f"still missing {report['missing']}")
    leader = report.get("leader_report") or {}
    if leader.get("report_id") != order.report:
        out.append(f"leader report {leader.get('report_id')}, ledger {order.report}")
    if sorted(leader.get("merged_note_ids", [])) != sorted(order.notes):
        out.append("merged notes differ from the ledger's")
    notes = Counter((n["note_id"], c["user"]) for c in report["contributions"] for n in c["notes"])
    if notes != Counter(order.notes.items()):
        out.append(f"notes {dict(notes)} != ledger {order.notes}")
    shas = Counter(p["sha256"] for p in report["photos"])
    if any(n > 1 for n in shas.values()):
        out.append("a photo appears twice")
    photos = {p["sha256"]: {u["user"] for u in p["uploaders"]} for p in report["photos"]}
    if photos != order.photos:
        out.append(f"photos {photos} != ledger {order.photos}")
    return out


def check_dead_letters(verdict: Verdict, dead: dict[int, str], poison: dict[int, str]) -> None:
    """Every poison event dead-lettered with a reason; no other event dead-lettered."""
    for seq, kind in sorted(poison.items()):
        if seq not in dead:
            verdict.problem(f"poison event {seq} ({kind}) was not dead-lettered")
        elif not dead[seq].strip():
            verdict.problem(f"poison event {seq} ({kind}) dead-lettered without a reason")
    for seq in sorted(set(dead) - set(poison)):
        verdict.lost += 1
        verdict.problem(f"lost: event {seq} dead-lettered: {dead[seq][:200]}")


def check_rebuild(verdict: Verdict, comparison: Comparison) -> None:
    verdict.rebuild_equal = comparison.equal
    verdict.tables = comparison.tables
    for text in comparison.differences:
        verdict.problem(f"rebuild: {text}")
