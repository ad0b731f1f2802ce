"""Connecting to NATS: :func:`connect`, with nats-py's client reading message headers in less
than half the time.

Every message JetStream hands back carries a header block: a batched direct get's carry 6-7
lines (``Nats-Stream``, ``Nats-Subject``, ``Nats-Sequence``, ``Nats-Time-Stamp``, ...).
nats-py 2.16 parses each block line by line in Python, checking every character of every
name with a generator: ~18 us a message, about a tenth of what a rebuild spends per event
and of what a service spends loading an aggregate (bench/README.md).

:class:`Client` parses the same blocks into the same dictionaries in ~8 us: an ASCII block
with ``str`` methods, any other block (UTF-8 values, which nothing here writes) with nats-py's
own parser. The answer is nats-py's for every input; a unit test compares the two on 50,000
seeded random blocks (ADR 0019). Should nats-py stop calling ``_parse_header_lines``, the
override is simply unused and nothing changes but the speed.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote, urlsplit

from nats.aio.client import Client as NATS
from nats.errors import NoServersError
from nats.errors import TimeoutError as NatsTimeoutError

from fieldcrew_shared.errors import BackendUnavailableError

log = logging.getLogger(__name__)

_STRIPPED = " \t\n\r\x0b\x0c"  # what ``bytes.strip`` removes, as nats-py strips bytes
_SPACE = re.compile(r"\s")  # str.isspace's characters (for ASCII, the same set)


class Client(NATS):
    """A nats-py client whose header parsing is quicker (same results)."""

    @staticmethod
    def _parse_header_lines(raw: bytes) -> dict[str, str]:
        return parse_header_lines(raw)


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """``Name: Value`` lines to a dictionary, exactly as nats-py's ``_parse_header_lines``:
    lines without a colon and names with whitespace inside are skipped, names and values are
    stripped, and a later line wins over an earlier one of the same name."""
    if not raw.isascii():
        return NATS._parse_header_lines(raw)  # its UTF-8 values and non-ASCII names
    out: dict[str, str] = {}
    for line in raw.decode("ascii").split("\r\n"):
        name, colon, value = line.partition(":")
        if colon:
            key = name.strip(_STRIPPED)
            if _SPACE.search(key) is None:
                out[key] = value.strip(_STRIPPED)
    return out


def server_list(url: str) -> tuple[list[str], dict[str, str]]:
    """``FIELDCREW_NATS_URL`` (one URL, or a cluster's URLs separated by commas) as nats-py's
    server list, and the credentials they share as connect options (``user`` and
    ``password``, or ``token``).

    Given as options rather than inside each URL, the credentials also reach the servers a
    cluster announces by itself (nats-py adds those without any). URLs with differing
    credentials are left as they are."""
    urls = [u.strip() for u in url.split(",") if u.strip()]
    parts = [urlsplit(u) for u in urls]
    credentials = {(p.username, p.password) for p in parts}
    if len(credentials) != 1:
        return urls, {}
    user, password = credentials.pop()
    if user is None:
        return urls, {}
    bare = [p._replace(netloc=p.netloc.rsplit("@", 1)[1]).geturl() for p in parts]
    if password is None:  # nats://TOKEN@host
        return bare, {"token": unquote(user)}
    return bare, {"user": unquote(user), "password": unquote(password)}


def inbox_prefix(service: str) -> str:
    """The subject prefix of ``service``'s replies (``_INBOX_team``): its NATS user may
    subscribe under it and nowhere else, so no service reads or answers another's replies."""
    return f"_INBOX_{service}"


async def connect(
    url: str, name: str, *, ping_interval: float = 5.0, inbox_prefix: str | None = None
) -> NATS:
    """Connect to NATS, translating 'nobody there' into BackendUnavailableError. The client
    is :class:`Client` (nats-py's, with quicker header parsing).

    A server that stops answering (hung, paused, cut off) is given up after three unanswered
    pings, every ``ping_interval`` seconds (nats-py's default: two minutes each), and the
    client reconnects, to another node of a cluster when there is one. ``url`` may list a
    cluster's nodes, separated by commas (:func:`server_list`). A service passes its own
    ``inbox_prefix`` (:func:`inbox_prefix`), the only subjects its NATS user may subscribe to."""
    nc = Client()
    servers, credentials = server_list(url)
    if inbox_prefix is not None:
        credentials["inbox_prefix"] = inbox_prefix
    try:
        await nc.connect(
            servers,
            name=name,
            connect_timeout=5,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,  # type: ignore[arg-type]  # annotated int; it is slept
            ping_interval=ping_interval,  # type: ignore[arg-type]  # the same
            max_outstanding_pings=2,
            error_cb=_connection_error,
            disconnected_cb=_disconnected,
            reconnected_cb=_reconnected,
            **credentials,  # type: ignore[arg-type]  # credentials, inbox prefix: all str
        )
    except (NoServersError, OSError, NatsTimeoutError) as exc:
        raise BackendUnavailableError(f"NATS at {_redact(url)} is not reachable") from exc
    return nc


async def _connection_error(exc: Exception) -> None:
    # one line, where nats-py's default logs a traceback for every failed reconnect
    log.warning("NATS connection error", extra={"why": repr(exc)})


async def _disconnected() -> None:
    log.warning("NATS disconnected; reconnecting")


async def _reconnected() -> None:
    log.info("NATS reconnected")


def _redact(urls: str) -> str:
    redacted = []
    for url in urls.split(","):
        scheme, _, rest = url.strip().partition("://")
        redacted.append(f"{scheme}://***@{rest.split('@', 1)[1]}" if "@" in rest else url.strip())
    return ",".join(redacted)
