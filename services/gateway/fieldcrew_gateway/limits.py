"""Per-user rate limits: a token bucket per caller, kept in this replica's memory.

The caller is the verified ``sub`` of the bearer token; a request without a token that
verifies is counted against its client IP instead (so forged or garbage tokens cannot buy
fresh buckets). A refused request is answered 429 with ``Retry-After`` in whole seconds and
fieldcrew's JSON error shape, before any upstream is called. See ADR 0008 for why the state
is per replica and what a production deployment puts in front of it.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.responses import JSONResponse
from fieldcrew_shared.auth import TokenVerifier
from fieldcrew_shared.errors import AuthenticationError, BackendUnavailableError
from fieldcrew_shared.web import error_body
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from fieldcrew_gateway.metrics import RATE_LIMITED

log = logging.getLogger(__name__)

EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})
"""Load-balancer probes are not callers."""


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One token bucket per key: ``rate`` tokens a second flow in, at most ``burst`` are held,
    each request takes one.

    Keys are kept in least-recently-used order; a bucket idle long enough to be full again is
    dropped (it holds nothing a new one would not), and past ``max_keys`` the least recently
    used is dropped too, so memory stays bounded whatever the number of callers.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float:
        """Take a token for ``key``: 0.0 when the request may go, else the seconds until a
        token will be there (nothing is taken then)."""
        now = self._clock()
        bucket = self._buckets.pop(key, None)
        tokens = self.burst if bucket is None else self._level(bucket, now)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = _Bucket(tokens, now)
        self._evict(now)
        return wait

    def _level(self, bucket: _Bucket, now: float) -> float:
        return min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)

    def _evict(self, now: float) -> None:
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            if len(self._buckets) <= self.max_keys and self._level(oldest, now) < self.burst:
                return
            del self._buckets[key]


def retry_after(wait: float) -> int:
    """``Retry-After`` in whole seconds, rounded up (never 0 for a refused request)."""
    return max(1, math.ceil(wait))


class RateLimitMiddleware:
    """ASGI middleware: count every request against its caller's bucket; 429 when empty."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets, verifier: TokenVerifier) -> None:
        self.app = app
        self.buckets = buckets
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        key = await self.caller(scope)
        wait = self.buckets.take(key)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        seconds = retry_after(wait)
        RATE_LIMITED.inc()
        log.info("rate limited", extra={"caller": key, "retry_after": seconds})
        response = JSONResponse(
            error_body("rate_limited", f"too many requests, retry after {seconds} s"),
            429,
            headers={"Retry-After": str(seconds)},
        )
        await response(scope, receive, send)

    async def caller(self, scope: Scope) -> str:
        """``user:<sub>`` for a token that verifies, else ``ip:<client address>``."""
        scheme, _, credentials = Headers(scope=scope).get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials:
            token = credentials.strip()
            try:
                principal = self.verifier.verify_at_hand(token)  # remembered, or key at hand
                if principal is None:  # in a thread: with a JWKS, looking a key up may fetch it
                    principal = await run_in_threadpool(self.verifier.verify, token)
            except (AuthenticationError, BackendUnavailableError):
                pass  # counted by address below; the route answers the 401 (or 503)
            else:
                return f"user:{principal.sub}"
        client = scope.get("client")
        return f"ip:{client[0] if client else 'unknown'}"
