"""Bearer JWTs: minting for local use, verification in every service (RFC 8725, RFC 9068).

A token is accepted only if: its header has ``typ`` ``at+jwt`` and a ``kid`` naming a
configured key, and none of ``jku``/``x5u``/``jwk``/``x5c`` (keys are never taken from a
token); its ``alg`` is the one pinned to that key (asymmetric only, see
:mod:`fieldcrew_shared.signing_keys`); the signature verifies; ``exp``, ``iat``, ``iss``,
``aud`` and ``sub`` are present and ``iss``/``aud`` are ours; ``exp``, ``nbf`` (when given) and
``iat`` hold within a 30 s leeway; ``role`` is a known role. Anything else is
``AuthenticationError`` (401). ``fieldcrew token`` mints tokens with the local key.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import jwt

from fieldcrew_shared.errors import AuthenticationError, FieldcrewError, ForbiddenError
from fieldcrew_shared.signing_keys import (
    KeySource,
    VerificationKey,
    ensure_keypair,
    load_private_key,
    public_jwk,
)

__all__ = ["Principal", "Role", "TokenVerifier", "ensure_keypair", "mint"]

TOKEN_TYPE = "at+jwt"
ACCEPTED_TYPES = frozenset({TOKEN_TYPE, f"application/{TOKEN_TYPE}"})
LEEWAY_SECONDS = 30
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
# headers that would make the verifier fetch or trust a key the token itself points to
KEY_BEARING_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c"})
MAX_TOKEN_CHARS = 8192
MAX_SUB_CHARS = 200
# Tokens remembered as verified, per process. A client sends its token with every call, and an
# Ed25519 check was a quarter of the gateway's CPU in the crew flow (bench/README.md).
VERIFIED_CACHE_SIZE = 4096


class Role(StrEnum):
    dispatcher = "dispatcher"
    technician = "technician"
    analyst = "analyst"
    admin = "admin"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: user id (token ``sub``) and role; ``valid_until``: when their
    token stops being accepted (``exp`` plus the leeway, seconds since the epoch), so that
    what outlives one request, such as an event stream, ends with it."""

    sub: str
    role: Role
    valid_until: float | None = field(default=None, compare=False)

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise ForbiddenError(f"role {self.role.value} may not do this (needs {allowed})")


@dataclass
class _Verified:
    """A token that verified: who it names, until when, and with which key."""

    principal: Principal
    expires: float  # exp + leeway, seconds since the epoch
    kid: str
    key: VerificationKey


@dataclass(frozen=True)
class TokenVerifier:
    """Verifies access tokens against the configured keys, issuer and audience.

    A token that verified is remembered (by its SHA-256, at most ``VERIFIED_CACHE_SIZE``,
    least recently used first out) until it expires, as long as the key that verified it is
    still the one configured for its ``kid``: a key rotated out of a JWKS takes its tokens
    with it. A token that failed is never remembered."""

    keys: KeySource
    issuer: str
    audience: str
    leeway: float = LEEWAY_SECONDS
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)
    _cache: OrderedDict[bytes, _Verified] = field(
        default_factory=OrderedDict, init=False, repr=False, compare=False
    )
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def verify(self, token: str) -> Principal:
        """The caller a valid token names; ``AuthenticationError`` for any other token. May
        block while the key source fetches keys (a JWKS): call it off the event loop."""
        digest = _digest(token)
        if (known := self._remembered(digest)) is not None:
            return known
        header = checked_header(token)
        return self._verified(digest, token, header, self.keys.key_for(header["kid"]))

    def verify_at_hand(self, token: str) -> Principal | None:
        """``verify`` without I/O, for the event loop: None when the token's key is not at
        hand (a JWKS to fetch first), and then ``verify`` decides."""
        digest = _digest(token)
        if (known := self._remembered(digest)) is not None:
            return known
        header = checked_header(token)
        key = self.keys.key_at_hand(header["kid"])
        return None if key is None else self._verified(digest, token, header, key)

    def _remembered(self, digest: bytes) -> Principal | None:
        with self._lock:
            entry = self._cache.get(digest)
            if entry is not None:
                self._cache.move_to_end(digest)
        if entry is None:
            return None
        try:
            current = self.keys.key_at_hand(entry.kid)
        except FieldcrewError:  # the kid is no longer configured: verify it afresh
            current = None
        if self.clock() < entry.expires and current == entry.key:
            return entry.principal
        with self._lock:
            self._cache.pop(digest, None)
        return None

    def _verified(
        self, digest: bytes, token: str, header: dict[str, Any], key: VerificationKey
    ) -> Principal:
        if header.get("alg") != key.algorithm:
            raise AuthenticationError(f"token alg must be {key.algorithm} for its key")
        claims = self._claims(token, key)
        valid_until = float(claims["exp"]) + self.leeway
        principal = replace(principal_of(claims), valid_until=valid_until)
        entry = _Verified(principal, valid_until, header["kid"], key)
        with self._lock:
            self._cache[digest] = entry
            if len(self._cache) > VERIFIED_CACHE_SIZE:
                self._cache.popitem(last=False)
        return principal

    def _claims(self, token: str, key: VerificationKey) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS, "verify_sub": True},
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"invalid token: {exc}") from exc
        return claims


def _digest(token: str) -> bytes:
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthenticationError("token is too long")
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def checked_header(token: str) -> dict[str, Any]:
    """The token's header, if its shape is acceptable before any key is looked at."""
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthenticationError("token is too long")
    try:
        header: dict[str, Any] = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AuthenticationError("token is not a JWT") from exc
    if str(header.get("typ", "")).lower() not in ACCEPTED_TYPES:
        raise AuthenticationError(f"token typ must be {TOKEN_TYPE}")
    if refused := sorted(KEY_BEARING_HEADERS & header.keys()):
        raise AuthenticationError(f"token header {', '.join(refused)} is not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthenticationError("token has no kid")
    return header


def principal_of(claims: dict[str, Any]) -> Principal:
    """The caller named by verified ``claims``: a non-empty ``sub`` and a known ``role``."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_SUB_CHARS:
        raise AuthenticationError("token sub is missing or not a user id")
    if not sub.isprintable():  # control characters in ids would poison events and logs
        raise AuthenticationError("token sub has control characters")
    try:
        role = Role(str(claims.get("role")))
    except ValueError as exc:
        raise AuthenticationError("token has no known role") from exc
    return Principal(sub=sub, role=role)


def mint(
    private_key_pem: bytes,
    *,
    sub: str,
    role: Role,
    issuer: str,
    audience: str,
    ttl_seconds: int = 8 * 3600,
    extra: dict[str, Any] | None = None,
) -> str:
    """A signed access token for ``sub`` in ``role``; its header names the key (``kid`` =
    RFC 7638 thumbprint) and the algorithm pinned to the key's type."""
    key = load_private_key(private_key_pem)
    jwk = public_jwk(key.public_key())
    now = int(time.time())
    claims = {
        "sub": sub,
        "role": role.value,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        **(extra or {}),
    }
    headers = {"typ": TOKEN_TYPE, "kid": jwk["kid"]}
    return jwt.encode(claims, key, algorithm=jwk["alg"], headers=headers)
