"""Where a webhook may be sent. In production (``FIELDCREW_MODE=production``) only to public
addresses: the host is resolved, every address it resolves to must be public
(``domain.public_address``), and the request then goes to the address that was checked (the
host name kept for the ``Host`` header and TLS), so that a name resolving differently a moment
later cannot steer it inside (DNS rebinding). Locally (tests, ``make run``) anything goes,
loopback included.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from fieldcrew_shared.errors import InvalidCommandError

from fieldcrew_aggregator.webhooks.domain import public_address


class UnsafeAddressError(InvalidCommandError):
    """A webhook URL that leads to a loopback, private or otherwise internal address."""

    code = "address_not_allowed"


@dataclass(frozen=True)
class Target:
    """Where to connect for a URL: the URL to request, and what goes with it."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AddressPolicy:
    """``public_only``: refuse every address that is not public (production)."""

    public_only: bool

    async def target(self, url: str) -> Target:
        """Where to send to ``url``; UnsafeAddressError when it may not be sent there."""
        if not self.public_only:
            return Target(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        address = await _public_address_of(host, parts.port)
        shown = f"[{address}]" if ":" in address else address
        netloc = f"{shown}:{parts.port}" if parts.port else shown
        pinned = parts._replace(netloc=netloc).geturl()
        host_header = parts.netloc.rsplit("@", 1)[-1]
        return Target(pinned, {"host": host_header}, {"sni_hostname": host})


async def _public_address_of(host: str, port: int | None) -> str:
    """One address of ``host``, when all of them are public."""
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port or 443, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise UnsafeAddressError(f"the host {host!r} cannot be resolved") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    private = [a for a in addresses if not public_address(a)]
    if not addresses or private:
        raise UnsafeAddressError(
            f"the url leads to {', '.join(private) or 'no address'}: only public addresses"
            " may receive webhooks"
        )
    return addresses[0]
