"""The services the gateway forwards to: their replicas, the one pool of connections to them
(opened in the app's lifespan) and their readiness as the gateway sees it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum

import aiohttp
from fastapi import Request
from fieldcrew_shared.health import Details, NotReadyError

from fieldcrew_gateway.config import Settings
from fieldcrew_gateway.replicas import Replicas

# Shorter than uvicorn's 5 s keep-alive and than a draining service's delay before it closes
# its idle connections (FIELDCREW_DRAIN_DELAY, 2 s in the replicas test, ~5 on Kubernetes):
# a pooled connection is then never reused just as the upstream closes it, which a POST
# cannot be sent again after and would surface as a spurious 503 (docs/adr/0057).
KEEPALIVE_EXPIRY_SECONDS = 1.0
# Connection refused or reset, a timeout, a malformed or cut-off answer
UNREACHABLE = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)


class Upstream(StrEnum):
    """The services the gateway forwards to."""

    dispatch = "dispatch"
    team = "team"
    photos = "photos"
    aggregator = "aggregator"
    documents = "documents"


@dataclass(frozen=True)
class Upstreams:
    """The connection pool shared by every forwarded call, each service's replicas, and how
    long a call may wait: a photo upload, whose answer waits for the image to be processed,
    longer than the rest."""

    client: aiohttp.ClientSession
    replicas: Mapping[Upstream, Replicas]
    timeout: aiohttp.ClientTimeout
    upload_timeout: aiohttp.ClientTimeout

    def url(self, upstream: Upstream, path: str, query: str) -> str:
        """The URL of ``path`` (no ``/api/v1``) on the replica next in turn."""
        return replica_url(self.replicas[upstream].order()[0], path, query)


def replica_url(base: str, path: str, query: str) -> str:
    """``path`` with ``query`` on the replica at ``base``."""
    url = base + path
    return f"{url}?{query}" if query else url


@asynccontextmanager
async def open_upstreams(settings: Settings) -> AsyncIterator[Upstreams]:
    """One ``aiohttp.ClientSession`` for all upstreams, closed on exit.

    aiohttp rather than httpx: forwarding was two thirds of the gateway's CPU with httpx, the
    gateway the busiest process of the crew flow (py-spy, bench/README.md)."""
    client = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_EXPIRY_SECONDS),
        timeout=_bounded(settings.upstream_timeout),
        # no cookies kept between the calls of different users; upstream addresses come from
        # Settings only, never from proxy variables
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )
    replicas = {
        Upstream.dispatch: Replicas.parse(settings.dispatch_url),
        Upstream.team: Replicas.parse(settings.team_url),
        Upstream.photos: Replicas.parse(settings.photos_url),
        Upstream.aggregator: Replicas.parse(settings.aggregator_url),
        Upstream.documents: Replicas.parse(settings.documents_url),
    }
    async with client:
        yield Upstreams(
            client,
            replicas,
            _bounded(settings.upstream_timeout),
            _bounded(settings.upload_upstream_timeout),
        )


def _bounded(seconds: float) -> aiohttp.ClientTimeout:
    """Connecting and each read bounded, not the whole call: a slow upload is bounded by the
    gateway's body reader (bodies.py) while it moves."""
    return aiohttp.ClientTimeout(
        total=None, connect=seconds, sock_connect=seconds, sock_read=seconds
    )


async def upstream_ready(upstreams: Upstreams, upstream: Upstream, seconds: float) -> Details:
    """Readiness of one upstream: one of its replicas' own ``/readyz`` (what they name as
    wrong, when none is ready)."""
    problems = []
    for base in upstreams.replicas[upstream].urls:
        try:
            return await _replica_ready(upstreams, upstream, base + "/readyz", seconds)
        except NotReadyError as exc:
            problems.append(str(exc))
    raise NotReadyError("; ".join(problems))


async def _replica_ready(
    upstreams: Upstreams, upstream: Upstream, url: str, seconds: float
) -> Details:
    try:
        async with upstreams.client.get(
            url, timeout=aiohttp.ClientTimeout(total=seconds), allow_redirects=False
        ) as answer:
            body = await answer.read()
    except UNREACHABLE as exc:
        raise NotReadyError(f"{upstream} is not reachable ({type(exc).__name__})") from exc
    if answer.status != 200:
        try:
            problems = json.loads(body)["problems"]
            why = "; ".join(f"{p['check']}: {p['error']}" for p in problems)
        except (ValueError, KeyError, TypeError):
            why = f"status {answer.status}"
        raise NotReadyError(f"{upstream} is not ready: {why}")
    return {"status": answer.status}


def upstreams_of(request: Request) -> Upstreams:
    """The upstreams the app opened in its lifespan."""
    upstreams: Upstreams = request.app.state.upstreams
    return upstreams
