"""Several replicas of one service behind the gateway (docs/adr/0057-drain-and-replicas.md).

``FIELDCREW_TEAM_URL=http://team-1:8182,http://team-2:8182``: requests are spread over the
replicas in turn. A replica that answers ``X-Fieldcrew-Draining`` (it got SIGTERM) or refuses
a connection (stopped, restarting) is tried last for a moment and the request goes to the next
one, so a rolling restart loses no request. What may be sent again: any request whose
connection was refused (nothing reached the service), and a GET whose connection was closed
before an answer; never a command that may have reached a service.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import aiohttp

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DRAINING = (
    "X-Fieldcrew-Draining"  # fieldcrew_shared.draining puts it on a draining service's answers
)


@dataclass
class Replicas:
    """One service's base URLs, taken in turn; one that refused a connection or said it is
    draining rests for ``rest_seconds`` (tried last, not skipped: it may be the only one)."""

    urls: tuple[str, ...]
    rest_seconds: float = 5.0
    _next: int = 0
    _resting: dict[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, setting: str) -> Replicas:
        """From a setting of comma-separated base URLs."""
        urls = tuple(u.strip().rstrip("/") for u in setting.split(",") if u.strip())
        if not urls:
            raise ValueError("an upstream needs at least one URL")
        return cls(urls)

    def order(self) -> list[str]:
        """Every replica, the next in turn first, those resting last."""
        count = len(self.urls)
        start, self._next = self._next, (self._next + 1) % count
        turn = [self.urls[(start + i) % count] for i in range(count)]
        if not self._resting:
            return turn
        now = time.monotonic()
        awake = [u for u in turn if self._resting.get(u, 0.0) <= now]
        return awake + [u for u in turn if u not in awake]

    def rest(self, url: str) -> None:
        """Try ``url`` last for a while: it refused a connection, or said it is draining."""
        self._resting[url] = time.monotonic() + self.rest_seconds


def may_send_again(exc: BaseException, method: str) -> bool:
    """Whether a request that failed with ``exc`` surely did not reach the service (or, for
    a GET, may be asked again anyway)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return True  # the connection was never made
    return method in SAFE_METHODS and isinstance(exc, aiohttp.ServerDisconnectedError)
