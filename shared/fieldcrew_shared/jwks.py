"""The identity provider's signing keys, fetched from its JWKS URL and cached (docs/adr/0022).

The fetch is careful with what answers it: https only (plain http only in local mode), no
redirect followed (a 3xx is a failed fetch: a JWKS URL that moved is a configuration change,
not something to follow to wherever it points), no compressed answer, and at most
:data:`MAX_JWKS_BYTES` read. :class:`JwksKeys` keeps the keys in one immutable snapshot that
the event loop reads without taking any lock; only threads that must fetch wait for each
other, and never for longer than one fetch.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import httpx
from jwt.exceptions import PyJWTError

from fieldcrew_shared.errors import AuthenticationError, BackendUnavailableError
from fieldcrew_shared.signing_keys import UnsupportedKeyError, VerificationKey, keys_of_jwks

log = logging.getLogger(__name__)

MAX_JWKS_BYTES = 256 * 1024  # a JWKS of ten RSA-4096 keys is under 20 KiB
Fetch = Callable[[], Mapping[str, Any]]


def jwks_fetcher(
    url: str,
    *,
    timeout: float = 5.0,
    max_bytes: int = MAX_JWKS_BYTES,
    allow_http: bool = False,
    ssl_context: ssl.SSLContext | None = None,
) -> Fetch:
    """A function that GETs the JWKS document at ``url``; ``BackendUnavailableError`` for any
    answer but a 200 with at most ``max_bytes`` of uncompressed JSON. ``UnsupportedKeyError``
    at once for a URL that is not https (or http with ``allow_http``, local mode only).
    ``ssl_context``: whom to trust (default: the system's, or ``SSL_CERT_FILE``)."""
    scheme = urlsplit(url).scheme
    if scheme != "https" and not (allow_http and scheme == "http"):
        raise UnsupportedKeyError(f"the JWKS URL must be https, not {scheme or 'schemeless'}")
    source = _redacted(url)

    def fetch() -> Mapping[str, Any]:
        try:
            with httpx.Client(
                follow_redirects=False, timeout=timeout, verify=ssl_context or True
            ) as client:
                body = _read(client, url, source, max_bytes)
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"JWKS at {source} did not answer") from exc
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise BackendUnavailableError(f"JWKS at {source} is not JSON") from exc
        if not isinstance(document, dict):
            raise BackendUnavailableError(f"JWKS at {source} is not a JSON object")
        return document

    return fetch


def _read(client: httpx.Client, url: str, source: str, max_bytes: int) -> bytes:
    headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code != 200:
            moved = " (a redirect, not followed)" if response.is_redirect else ""
            raise BackendUnavailableError(
                f"JWKS at {source} answered {response.status_code}{moved}"
            )
        if response.headers.get("content-encoding", "identity") != "identity":
            raise BackendUnavailableError(f"JWKS at {source} came compressed; asked for none")
        if int(response.headers.get("content-length") or 0) > max_bytes:
            raise BackendUnavailableError(f"JWKS at {source} is larger than {max_bytes} bytes")
        body = bytearray()
        for chunk in response.iter_raw():
            body += chunk
            if len(body) > max_bytes:  # a server that sends more than it declared, or streams
                raise BackendUnavailableError(f"JWKS at {source} is larger than {max_bytes} bytes")
        return bytes(body)


@dataclass(frozen=True)
class _Snapshot:
    keys: Mapping[str, VerificationKey]
    fetched_at: float | None  # when the keys were fetched; None: never
    attempted_at: float | None  # when a fetch was last tried, failed or not


@dataclass
class JwksKeys:
    """The identity provider's signing keys from its JWKS, cached for ``max_age`` seconds.

    At most one fetch per ``cooldown`` seconds, whatever tokens arrive: an unknown kid, or an
    identity provider that is down, cannot make the service hammer the JWKS URL. Keys fetched
    before stay in use while a refresh fails; with none at all, ``BackendUnavailableError``.
    :meth:`key_at_hand` (the event loop's) reads the current snapshot and never waits;
    :meth:`key_for` (a worker thread's) may fetch, one thread at a time.
    """

    fetch: Fetch
    max_age: float = 300.0
    cooldown: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _snapshot: _Snapshot = field(default_factory=lambda: _Snapshot({}, None, None), init=False)
    _fetching: threading.Lock = field(default_factory=threading.Lock, init=False)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout: float = 5.0,
        max_bytes: int = MAX_JWKS_BYTES,
        allow_http: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        **kwargs: Any,
    ) -> JwksKeys:
        """Keys from ``url`` (:func:`jwks_fetcher`)."""
        fetch = jwks_fetcher(url, timeout=timeout, max_bytes=max_bytes, allow_http=allow_http,
                             ssl_context=ssl_context)  # fmt: skip
        return cls(fetch, **kwargs)

    def key_for(self, kid: str) -> VerificationKey:
        """The key ``kid``, fetching the JWKS first when it is stale or lacks ``kid`` (and
        the cooldown allows). Blocks: call it from a worker thread."""
        snapshot = self._snapshot
        if self._stale(snapshot) or kid not in snapshot.keys:
            with self._fetching:  # only threads wait here, each at most one fetch
                snapshot = self._snapshot  # another thread may have fetched meanwhile
                if (self._stale(snapshot) or kid not in snapshot.keys) and self._may_fetch(
                    snapshot
                ):
                    snapshot = self._refresh(snapshot)
        if not snapshot.keys:
            raise BackendUnavailableError("the identity provider's keys are not available")
        key = snapshot.keys.get(kid)
        if key is None:
            raise AuthenticationError("token kid names no key of the identity provider")
        return key

    def key_at_hand(self, kid: str) -> VerificationKey | None:
        """The key ``kid`` from the cache as it is, or None when it is stale; no I/O and no
        lock (the event loop calls it); an unknown kid is for :meth:`key_for` to decide."""
        snapshot = self._snapshot  # one reference read: a fetch in flight is not waited for
        return None if self._stale(snapshot) else snapshot.keys.get(kid)

    def _stale(self, snapshot: _Snapshot) -> bool:
        fetched = snapshot.fetched_at
        return fetched is None or self.clock() - fetched >= self.max_age

    def _may_fetch(self, snapshot: _Snapshot) -> bool:
        tried = snapshot.attempted_at
        return tried is None or self.clock() - tried >= self.cooldown

    def _refresh(self, old: _Snapshot) -> _Snapshot:
        now = self.clock()
        self._snapshot = _Snapshot(old.keys, old.fetched_at, now)  # the cooldown starts now
        try:
            keys = keys_of_jwks(self.fetch())
        except (BackendUnavailableError, PyJWTError) as exc:
            log.warning("JWKS refresh failed", extra={"reason": str(exc), "kept": len(old.keys)})
            return self._snapshot
        self._snapshot = _Snapshot(MappingProxyType(dict(keys)), now, now)
        log.info("JWKS refreshed", extra={"kids": sorted(keys)})
        return self._snapshot


def _redacted(url: str) -> str:
    """``url`` without credentials or query, for messages."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"
