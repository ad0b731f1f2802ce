"""Webhooks, the rules: who may register one, what a registration must say, which events go
to it, which addresses may receive them, and when a failed delivery is tried again.

Pure: no I/O. Resolving a host name is the caller's (``addresses.py``); this module only
judges the addresses it is given.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit
from uuid import UUID

from fieldcrew_shared.auth import Principal, Role
from fieldcrew_shared.errors import ForbiddenError, InvalidCommandError
from fieldcrew_shared.events import CATALOGUE, UPCASTERS, WebhookRegistered

ALL_TYPES = "*"
MAX_URL = 2000
MAX_TYPES = 100
# never sent to a webhook: other subscribers' registrations
NOT_DELIVERED = frozenset({WebhookRegistered.type_name()})


@dataclass(frozen=True)
class RegisterWebhook:
    """An admin's request to be sent events of ``event_types`` at ``url``."""

    webhook_id: UUID
    url: str
    event_types: tuple[str, ...]
    actor: Principal


def check_register(cmd: RegisterWebhook) -> None:
    """Raise unless ``cmd`` may be carried out: an admin's, a usable URL, known types."""
    require_admin(cmd.actor)
    check_url(cmd.url)
    check_types(cmd.event_types)


def decide_register(cmd: RegisterWebhook, sealed: str) -> WebhookRegistered:
    """The registration event; ``sealed`` is the URL and secret, encrypted."""
    check_register(cmd)
    return WebhookRegistered(
        webhook_id=cmd.webhook_id,
        event_types=check_types(cmd.event_types),
        sealed=sealed,
        registered_by=cmd.actor.sub,
    )


def require_admin(principal: Principal) -> None:
    """Webhooks are an admin's: to register them and to read their deliveries."""
    if principal.role is not Role.admin:
        raise ForbiddenError("only an admin manages webhooks")


def check_url(url: str) -> str:
    """``url`` when it is an absolute http(s) URL with a host and no credentials."""
    if len(url) > MAX_URL:
        raise InvalidCommandError(f"the url is longer than {MAX_URL} characters", code="bad_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidCommandError(f"the url cannot be read: {exc}", code="bad_url") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidCommandError("the url must be http:// or https:// with a host", code="bad_url")
    if parts.username is not None or parts.password is not None:
        raise InvalidCommandError("the url must not carry credentials", code="bad_url")
    if port == 0:
        raise InvalidCommandError("the url's port must not be 0", code="bad_url")
    return url


def check_types(event_types: tuple[str, ...]) -> tuple[str, ...]:
    """The event types asked for, each a CloudEvents type of the catalogue (or an older version
    of one), or ``("*",)`` for all."""
    if not event_types or len(event_types) > MAX_TYPES:
        raise InvalidCommandError(
            f'event_types lists 1 to {MAX_TYPES} CloudEvents types, or ["*"]',
            code="bad_event_types",
        )
    if ALL_TYPES in event_types:
        if len(event_types) > 1:
            raise InvalidCommandError('"*" stands alone', code="bad_event_types")
        return event_types
    known = (set(CATALOGUE) | set(UPCASTERS)) - NOT_DELIVERED
    unknown = [t for t in event_types if t not in known]
    if unknown:
        raise InvalidCommandError(
            f"unknown event types {unknown}; the types are in /asyncapi.json",
            code="bad_event_types",
        )
    return tuple(dict.fromkeys(event_types))


def wanted(
    event_types: tuple[str, ...] | list[str], type_name: str, readable_from: int | None = None
) -> bool:
    """Whether a subscription to ``event_types`` is sent an event of ``type_name``: also a
    newer version of a type it names, when readers of that one may read it (``readable_from``,
    ADR 0058), so that a subscriber is not cut off by an upgrade of the event."""
    if type_name in NOT_DELIVERED:
        return False
    if ALL_TYPES in event_types or type_name in event_types:
        return True
    stem, _, version = type_name.rpartition(".v")
    if readable_from is None or not version.isdigit():
        return False
    return any(f"{stem}.v{v}" in event_types for v in range(readable_from, int(version)))


def public_address(address: str) -> bool:
    """Whether ``address`` is on the public internet: not loopback, private, link-local
    (cloud metadata services), multicast, reserved or otherwise special (SSRF)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not ip.is_multicast


@dataclass(frozen=True)
class Retry:
    """When a failed delivery is tried again: ``first`` seconds after the first failure,
    doubling up to ``longest``; after ``attempts`` failed attempts it is dead-lettered."""

    attempts: int = 8
    first: float = 1.0
    longest: float = 300.0

    def delay(self, failed: int) -> float | None:
        """Seconds until the next attempt after ``failed`` failed attempts (None: no more)."""
        if failed >= self.attempts:
            return None
        return float(min(self.longest, self.first * 2 ** (failed - 1)))
