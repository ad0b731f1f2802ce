"""Share-link tokens: ``base64url(work order id, link id, secret)``, 64 bytes, 86 characters.

The secret is 32 random bytes (256 bits) from :mod:`secrets`; only its sha256 is recorded.
The ids in the token say where to look the link up in the log (the work order's documents
history) without a table; they are no secret (ids are listed to the whole office).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass
from uuid import UUID, uuid4

from fieldcrew_shared.errors import NotFoundError

SECRET_BYTES = 32
TOKEN_BYTES = 16 + 16 + SECRET_BYTES


@dataclass(frozen=True)
class LinkToken:
    """What a token names, and the digest of its secret."""

    work_order_id: UUID
    link_id: UUID
    secret_sha256: str


def new_token(work_order_id: UUID) -> tuple[str, LinkToken]:
    """A fresh token for a new link of ``work_order_id``, and what it names."""
    link_id, secret = uuid4(), secrets.token_bytes(SECRET_BYTES)
    raw = work_order_id.bytes + link_id.bytes + secret
    token = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return token, LinkToken(work_order_id, link_id, _digest(secret))


def parse_token(token: str) -> LinkToken:
    """What ``token`` names; NotFoundError when it is not a well-formed token."""
    if len(token) != 86 or not token.isascii():
        raise NotFoundError("no such share link", code="no_share_link")
    try:
        raw = base64.urlsafe_b64decode(token + "==")
    except (binascii.Error, ValueError) as exc:
        raise NotFoundError("no such share link", code="no_share_link") from exc
    if len(raw) != TOKEN_BYTES or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        raise NotFoundError("no such share link", code="no_share_link")
    return LinkToken(UUID(bytes=raw[:16]), UUID(bytes=raw[16:32]), _digest(raw[32:]))


def _digest(secret: bytes) -> str:
    return hashlib.sha256(secret).hexdigest()
