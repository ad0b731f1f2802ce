"""Hostile bearer tokens: the ways RFC 8725 (and the JWT attacks it answers) forge a JWT.

``forgeries(genuine, attacker, ...)`` gives every forged token for one user by name. The
``genuine`` signer holds the key the system trusts; the ``attacker`` holds a key of their own.
Each token is otherwise a valid access token for that user, so a refusal can only come from
what was forged. ``FORGERY_COUNT`` is how many there are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fieldcrew_shared.signing_keys import PrivateKey, public_jwk

TYP = "at+jwt"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


@dataclass(frozen=True)
class Signer:
    """A private key, with the kid (RFC 7638 thumbprint) and algorithm its JWK declares."""

    key: PrivateKey

    @classmethod
    def ed25519(cls) -> Signer:
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def p256(cls) -> Signer:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, pem: bytes) -> Signer:
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey)
        return cls(key)

    @property
    def jwk(self) -> dict[str, Any]:
        return public_jwk(self.key.public_key())

    @property
    def kid(self) -> str:
        return str(self.jwk["kid"])

    @property
    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        """``claims`` signed with this key; header ``typ``/``kid``/``alg`` unless overridden
        (a header value ``None`` leaves that member out)."""
        full = {"typ": TYP, "kid": self.kid, **header}
        alg = full.pop("alg", self.jwk["alg"])
        headers = {k: v for k, v in full.items() if v is not None}
        if "typ" not in headers:  # PyJWT would add typ=JWT
            return _sign_without_typ(self.key, alg, headers, claims)
        return jwt.encode(claims, self.key, algorithm=alg, headers=headers)


def _sign_without_typ(
    key: PrivateKey, alg: str, headers: dict[str, Any], claims: dict[str, Any]
) -> str:
    signing_input = f"{segment({'alg': alg, **headers})}.{segment(claims)}"
    algorithm = jwt.algorithms.get_default_algorithms()[alg]
    signature = algorithm.sign(signing_input.encode(), algorithm.prepare_key(key))
    return f"{signing_input}.{b64url(signature)}"


def claims_for(
    sub: str, role: str, issuer: str, audience: str | list[str], /, **changes: Any
) -> dict[str, Any]:
    """A valid access token's claims for ``sub``; a change to ``None`` removes the claim."""
    now = int(time.time())
    claims = {
        "sub": sub,
        "role": role,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        **changes,
    }
    return {k: v for k, v in claims.items() if v is not None}


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """``alg: none``: header, payload, empty signature."""
    return f"{segment(header)}.{segment(claims)}."


def hs256(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An HMAC-SHA256 token keyed with ``secret`` (PyJWT refuses to make one with a PEM)."""
    signing_input = f"{segment({**header, 'alg': 'HS256'})}.{segment(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def flip_bit(token: str) -> str:
    """``token`` with one bit of its signature flipped."""
    head, body, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{body}.{b64url(bytes(raw))}"


def forgeries(
    genuine: Signer,
    attacker: Signer,
    *,
    sub: str,
    role: str,
    issuer: str,
    audience: str,
    jku: str = "http://127.0.0.1:9/jwks.json",
) -> dict[str, str]:
    """Every forged token for ``sub`` in ``role``, by attack name."""
    base = claims_for(sub, role, issuer, audience)

    def claims(**changes: Any) -> dict[str, Any]:
        return claims_for(sub, role, issuer, audience, **changes)

    now = int(time.time())
    header = {"typ": TYP, "kid": genuine.kid}
    raw_public = genuine.key.public_key()
    raw_bytes = (
        raw_public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if isinstance(raw_public, ed25519.Ed25519PublicKey)
        else genuine.public_pem
    )
    made: dict[str, Callable[[], str]] = {
        "alg none": lambda: unsigned({**header, "alg": "none"}, base),
        "alg None": lambda: unsigned({**header, "alg": "None"}, base),
        "alg none with a signature kept": lambda: (
            unsigned({**header, "alg": "none"}, base) + genuine.sign(base).split(".")[2]
        ),
        "HS256 keyed with the public key PEM": lambda: hs256(genuine.public_pem, header, base),
        "HS256 keyed with the raw public key": lambda: hs256(raw_bytes, header, base),
        "wrong aud": lambda: genuine.sign(claims(aud="someone-else")),
        "wrong iss": lambda: genuine.sign(claims(iss="https://evil.example")),
        "missing aud": lambda: genuine.sign(claims(aud=None)),
        "missing iss": lambda: genuine.sign(claims(iss=None)),
        "typ JWT": lambda: genuine.sign(base, typ="JWT"),
        "typ missing": lambda: genuine.sign(base, typ=None),
        "expired": lambda: genuine.sign(claims(iat=now - 3600, nbf=now - 3600, exp=now - 120)),
        "missing exp": lambda: genuine.sign(claims(exp=None)),
        "nbf in the future": lambda: genuine.sign(claims(nbf=now + 600)),
        "iat in the future": lambda: genuine.sign(claims(iat=now + 600, nbf=now + 600)),
        "missing iat": lambda: genuine.sign(claims(iat=None)),
        "flipped signature bit": lambda: flip_bit(genuine.sign(base)),
        "signature stripped": lambda: genuine.sign(base).rsplit(".", 1)[0] + ".",
        "unknown kid": lambda: attacker.sign(base),
        "genuine kid, attacker's signature": lambda: attacker.sign(base, kid=genuine.kid),
        "missing kid": lambda: genuine.sign(base, kid=None),
        "jku to the attacker's JWKS": lambda: attacker.sign(base, jku=jku),
        "jku on a genuine signature": lambda: genuine.sign(base, jku=jku),
        "x5u header": lambda: attacker.sign(base, x5u=jku),
        "embedded jwk header": lambda: attacker.sign(base, jwk=attacker.jwk),
        "alg ES256 on the EdDSA kid": lambda: Signer.p256().sign(base, kid=genuine.kid),
        "missing sub": lambda: genuine.sign(claims(sub=None)),
        "empty sub": lambda: genuine.sign(claims(sub="")),
        "unknown role": lambda: genuine.sign(claims(role="superuser")),
        "missing role": lambda: genuine.sign(claims(role=None)),
        "not a JWT": lambda: "not-a-token",
        "oversized": lambda: genuine.sign(claims(pad="x" * 9000)),
    }
    return {name: make() for name, make in made.items()}


FORGERY_COUNT = len(
    forgeries(Signer.ed25519(), Signer.ed25519(), sub="s", role="r", issuer="i", audience="a")
)


class JwksServer:
    """A real HTTP server on 127.0.0.1 serving ``/jwks.json`` from ``signers``' public keys
    (plus any ``extra`` JWKs), counting every request it gets."""

    def __init__(self, *signers: Signer, extra: list[dict[str, Any]] | None = None) -> None:
        self.signers = list(signers)
        self.extra = extra or []
        self.requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/jwks.json"

    def document(self) -> bytes:
        return json.dumps({"keys": [s.jwk for s in self.signers] + self.extra}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._lock:
                    owner.requests += 1
                body = owner.document()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test counts requests; nothing to print

        return Handler

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
