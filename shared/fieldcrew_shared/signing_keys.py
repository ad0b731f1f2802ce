"""The keys that verify bearer tokens, and the one algorithm each key is allowed.

RFC 8725: the verifier, never the token, decides the algorithm. Every key is pinned to the
algorithm its type implies (Ed25519 → ``EdDSA``, P-256 → ``ES256``, RSA of 2048 bits or
more → ``RS256``); nothing symmetric is ever accepted. A token names its key with ``kid``,
and the kid is looked up only among configured keys: the local public key file
(:class:`StaticKeys`, kid = RFC 7638 thumbprint) or the identity provider's JWKS
(:class:`fieldcrew_shared.jwks.JwksKeys`, cached; an unknown kid refreshes it at most once per
cooldown).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt import PyJWK
from jwt.algorithms import get_default_algorithms
from jwt.exceptions import PyJWKSetError, PyJWTError

from fieldcrew_shared.errors import AuthenticationError, FieldcrewError

ALGORITHMS = ("EdDSA", "ES256", "RS256")
MIN_RSA_BITS = 2048
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_THUMBPRINT_MEMBERS = {
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
}


class UnsupportedKeyError(FieldcrewError):
    """A configured key is not one fieldcrew verifies with (symmetric, weak, or unknown type)."""

    code = "unsupported_key"


@dataclass(frozen=True)
class VerificationKey:
    """A public key, its ``kid`` and the one algorithm it may verify."""

    kid: str
    algorithm: str
    key: PublicKey


class KeySource(Protocol):
    """Where a verifier finds the key a token's ``kid`` names."""

    def key_for(self, kid: str) -> VerificationKey:
        """The configured key ``kid``; ``AuthenticationError`` if there is none. May block
        while it fetches keys."""
        ...

    def key_at_hand(self, kid: str) -> VerificationKey | None:
        """``key_for`` without any I/O: None when finding the key would have to fetch."""
        ...


def algorithm_for(key: object) -> str:
    """The algorithm pinned to ``key``'s type; ``UnsupportedKeyError`` for any other key."""
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) and isinstance(
        key.curve, ec.SECP256R1
    ):
        return "ES256"
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey) and key.key_size >= MIN_RSA_BITS:
        return "RS256"
    raise UnsupportedKeyError(f"not an Ed25519, P-256 or RSA-{MIN_RSA_BITS}+ key")


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url): fieldcrew's ``kid``."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[str(jwk["kty"])]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    digest = hashlib.sha256(canonical).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_jwk(key: PublicKey) -> dict[str, Any]:
    """``key`` as a public JWK with its ``kid`` (thumbprint), ``alg`` and ``use``."""
    algorithm = algorithm_for(key)
    jwk = dict(get_default_algorithms()[algorithm].to_jwk(key, as_dict=True))
    return {**jwk, "kid": thumbprint(jwk), "alg": algorithm, "use": "sig"}


def verification_key(key: PublicKey) -> VerificationKey:
    return VerificationKey(kid=public_jwk(key)["kid"], algorithm=algorithm_for(key), key=key)


@dataclass(frozen=True)
class StaticKeys:
    """Keys given by configuration (local runs: the generated key pair's public half)."""

    keys: Mapping[str, VerificationKey]

    @classmethod
    def from_pem(cls, *pems: bytes) -> StaticKeys:
        """Public keys in PEM; ``UnsupportedKeyError`` for anything but the allowed types."""
        loaded = [serialization.load_pem_public_key(pem) for pem in pems]
        keys = [verification_key(k) for k in loaded if isinstance(k, PublicKey) and _allowed(k)]
        if len(keys) != len(loaded):
            raise UnsupportedKeyError(f"not an Ed25519, P-256 or RSA-{MIN_RSA_BITS}+ public key")
        return cls({k.kid: k for k in keys})

    def key_for(self, kid: str) -> VerificationKey:
        try:
            return self.keys[kid]
        except KeyError:
            raise AuthenticationError("token kid names no configured key") from None

    def key_at_hand(self, kid: str) -> VerificationKey | None:
        return self.key_for(kid)  # nothing to fetch: known or refused


def _allowed(key: object) -> bool:
    try:
        algorithm_for(key)
    except UnsupportedKeyError:
        return False
    return isinstance(key, PublicKey)


def keys_of_jwks(jwks: Mapping[str, Any]) -> dict[str, VerificationKey]:
    """The usable signing keys of a JWKS document: a kid, ``use`` sig (or none), and an
    allowed key type whose pinned algorithm agrees with the JWK's ``alg`` (if given). Every
    other entry is skipped; ``PyJWKSetError`` if none is left."""
    entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(entries, list):
        raise PyJWKSetError("a JWKS is a JSON object with a list of keys")
    keys = [key for entry in entries if (key := _signing_key(entry)) is not None]
    if not keys:
        raise PyJWKSetError("the JWKS holds no usable signing key")
    return {key.kid: key for key in keys}


def _signing_key(entry: object) -> VerificationKey | None:
    if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
        return None
    kid, alg = entry.get("kid"), entry.get("alg")
    # filter before PyJWK sees it: it would build an HMAC key from an "oct" JWK, and some
    # algorithms ("none") raise errors it does not wrap
    if not isinstance(kid, str) or not kid or entry.get("kty") not in _THUMBPRINT_MEMBERS:
        return None
    if alg is not None and alg not in ALGORITHMS:
        return None
    try:
        jwk = PyJWK(entry)
    except (PyJWTError, ValueError, TypeError):
        return None
    if not _allowed(jwk.key) or jwk.algorithm_name != algorithm_for(jwk.key):
        return None
    return VerificationKey(kid=kid, algorithm=jwk.algorithm_name, key=jwk.key)


def load_private_key(pem: bytes) -> PrivateKey:
    """A PEM private key of an allowed type (``UnsupportedKeyError`` otherwise)."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, PrivateKey):
        raise UnsupportedKeyError("not an Ed25519, P-256 or RSA private key")
    algorithm_for(key)
    return key


def ensure_keypair(directory: Path) -> tuple[Path, Path]:
    """An Ed25519 key pair in ``directory`` (made on first use, the private half mode 0600);
    return (private, public) PEM paths."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    private, public = directory / "jwt-private.pem", directory / "jwt-public.pem"
    if not private.exists():
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_new(private, pem, 0o600)
    if not public.exists():
        key_pub = load_private_key(private.read_bytes()).public_key()
        pem = key_pub.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write_new(public, pem, 0o644)
    return private, public


def _write_new(path: Path, content: bytes, mode: int) -> None:
    """Write ``path`` whole with ``mode`` from the start; a concurrent writer's file wins."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    try:
        with contextlib.suppress(FileExistsError):  # another process made it first: keep theirs
            os.link(tmp, path)
    finally:
        tmp.unlink()
