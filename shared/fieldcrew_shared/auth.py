"""Bearer JWTs: minting for local use, verification in every service.

Tokens are signed with Ed25519 (``EdDSA``); the verifier pins that algorithm and checks
``exp``, ``nbf``, ``iss``, ``aud`` and ``typ``. Production verifies tokens of an external
identity provider with its public key; ``fieldcrew token`` mints tokens with the local key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldcrew_shared.errors import AuthenticationError, ForbiddenError

ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"
LEEWAY_SECONDS = 30


class Role(StrEnum):
    dispatcher = "dispatcher"
    technician = "technician"
    analyst = "analyst"
    admin = "admin"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: user id (token ``sub``) and role."""

    sub: str
    role: Role

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise ForbiddenError(f"role {self.role.value} may not do this (needs {allowed})")


@dataclass(frozen=True)
class TokenVerifier:
    public_key_pem: bytes
    issuer: str
    audience: str

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != TOKEN_TYPE:
                raise AuthenticationError(f"token typ must be {TOKEN_TYPE}")
            claims = jwt.decode(
                token,
                self.public_key_pem,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                audience=self.audience,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"invalid token: {exc}") from exc
        try:
            return Principal(sub=str(claims["sub"]), role=Role(str(claims.get("role"))))
        except ValueError as exc:
            raise AuthenticationError("token has no known role") from exc


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
    """A signed access token for ``sub`` in ``role``."""
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
    return jwt.encode(claims, private_key_pem, algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE})


def ensure_keypair(directory: Path) -> tuple[Path, Path]:
    """Create an Ed25519 key pair in ``directory`` on first use; return (private, public)."""
    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / "jwt-private.pem", directory / "jwt-public.pem"
    if not private.exists():
        key = Ed25519PrivateKey.generate()
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        private.chmod(0o600)
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return private, public
