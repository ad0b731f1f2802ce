"""What the crews were told: every acknowledged command (a 2xx answer), every answer seen,
and each work order's plan as far as it got."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Ack:
    """A command the system acknowledged (2xx): it must be in the log exactly once."""

    kind: str  # issue, note, report or photo
    work_order: str
    actor: str
    entity: str  # the work order, note or report id; a photo's sha256
    status: int
    attempts: int
    sent: float  # time.monotonic() of the first attempt
    acked: float  # time.monotonic() of the 2xx answer


@dataclass(frozen=True)
class Answer:
    """One answer (or transport error, ``status`` 0) to one attempt."""

    kind: str
    status: int
    seconds: float
    at: float  # time.monotonic() when it came
    retry_after: str | None = None
    error: str = ""


@dataclass
class Order:
    """One work order as its crew played it."""

    index: int
    dispatcher: str
    leader: str
    members: list[str]
    id: str = ""
    notes: dict[str, str] = field(default_factory=dict)  # note id -> author
    photos: dict[str, set[str]] = field(default_factory=dict)  # sha256 -> uploaders
    report: str = ""  # the leader's report id
    failed: str = ""  # why the crew gave up on it (a command never acknowledged)

    @property
    def crew(self) -> list[str]:
        return [self.leader, *self.members]

    @property
    def complete(self) -> bool:
        """Every command of it was acknowledged (the report last)."""
        return bool(self.report) and not self.failed


@dataclass
class Ledger:
    """The driver's record of a scenario."""

    acks: list[Ack] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    orders: dict[int, Order] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)  # answers no retry can mend
    started: float = field(default_factory=time.monotonic)

    def ack(self, ack: Ack) -> None:
        self.acks.append(ack)

    def answer(self, answer: Answer) -> None:
        self.answers.append(answer)

    @property
    def complete_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.complete]

    def statuses(self) -> dict[str, int]:
        """How many answers of each kind and status, e.g. ``{"photo 503": 12}``."""
        counts = Counter(f"{a.kind} {a.status or a.error}" for a in self.answers)
        return dict(sorted(counts.items()))

    def longest_stall(self, start: float, end: float) -> float:
        """The longest time in ``[start, end]`` in which no command was acknowledged."""
        times = sorted(a.acked for a in self.acks if start <= a.acked <= end)
        edges = [start, *times, end]
        return max((b - a for a, b in itertools.pairwise(edges)), default=0.0)

    def slowest_command(self) -> float:
        """The longest a command took from its first attempt to its acknowledgement."""
        return max((a.acked - a.sent for a in self.acks), default=0.0)
