"""A webhook's URL and signing secret, sealed for the log: encrypted (Fernet: AES-128-CBC with
an HMAC-SHA256) with a key derived from the aggregator's ``FIELDCREW_WEBHOOK_KEY``. Anyone may
read the log (analysts, the integration user); only the aggregator can open a registration.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

import orjson
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fieldcrew_shared.errors import FieldcrewError

SECRET_PREFIX = "whsec_"  # Standard Webhooks' secret format: whsec_ + base64 of the key bytes


class WebhooksUnavailableError(FieldcrewError):
    """Webhooks cannot be registered or sent: no webhook key is configured."""

    code = "webhooks_not_configured"
    status = 503


class UnsealableError(FieldcrewError):
    """A registration sealed with another key (or damaged): it cannot be opened."""

    code = "unsealable"
    status = 500


@dataclass(frozen=True)
class Opened:
    """A registration's URL and its signing secret (``whsec_…``)."""

    url: str
    secret: str


def new_secret() -> str:
    """A fresh signing secret: 32 random bytes, in Standard Webhooks' ``whsec_`` form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class Sealer:
    """Seals and opens registrations with the key derived from ``key`` (any strong text)."""

    def __init__(self, key: str | None) -> None:
        self._fernet = Fernet(_derive(key)) if key else None

    @property
    def ready(self) -> bool:
        return self._fernet is not None

    def seal(self, opened: Opened) -> str:
        return (
            self._key().encrypt(orjson.dumps({"url": opened.url, "secret": opened.secret})).decode()
        )

    def open(self, sealed: str) -> Opened:
        try:
            data = orjson.loads(self._key().decrypt(sealed.encode()))
        except (InvalidToken, orjson.JSONDecodeError) as exc:
            raise UnsealableError("a webhook registration cannot be opened with this key") from exc
        return Opened(url=data["url"], secret=data["secret"])

    def _key(self) -> Fernet:
        if self._fernet is None:
            raise WebhooksUnavailableError(
                "webhooks are not configured: set FIELDCREW_WEBHOOK_KEY on the aggregator"
            )
        return self._fernet


def _derive(key: str) -> bytes:
    """A Fernet key (32 bytes, url-safe base64) from the configured text, by HKDF-SHA256."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"fieldcrew webhooks")
    return base64.urlsafe_b64encode(hkdf.derive(key.encode()))
