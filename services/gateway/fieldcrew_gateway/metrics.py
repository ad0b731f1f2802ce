"""The gateway's own metrics (beside the shared ones in :mod:`fieldcrew_shared.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter

RATE_LIMITED = Counter(
    "fieldcrew_gateway_rate_limited",
    "Requests refused with 429 because their caller's bucket was empty",
)
UPSTREAM_ERRORS = Counter(
    "fieldcrew_gateway_upstream_errors",
    "Forwarded calls that failed, by upstream and kind: unreachable (refused, reset, timed"
    " out; the client got 503) or 5xx (the service answered one)",
    ["upstream", "kind"],
)
