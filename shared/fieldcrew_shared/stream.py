"""The event log's stream: the configuration that keeps history, and its check at every start.

The stream is the only copy of the truth, so nothing may ever delete from it: no limit
(``max_msgs``, ``max_bytes``, ``max_age``, ``max_msgs_per_subject``) and ``discard: new``, so
that a limit added by mistake refuses new events instead of silently dropping the oldest;
deletes, purges, roll-ups and per-message TTLs denied; file storage, replicated on as many
nodes as the settings say (1 on the embedded single node, 3 on a cluster).

:func:`ensure_stream` creates the stream when it is missing and checks it when it is there.
A difference is either updated (the NATS admin: ``fieldcrew run``, ``fieldcrew stream``;
logged as a warning naming every change) or refused (a service, whose NATS user may not
change the stream: :class:`StreamConfigError` naming every difference, and the service does
not start). What JetStream cannot change (storage type, a work-queue retention) is refused
for the admin too (docs/adr/0021).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext, api
from nats.js.errors import APIError
from nats.js.errors import NotFoundError as JsNotFoundError

from fieldcrew_shared.errors import BackendUnavailableError, StreamConfigError

log = logging.getLogger(__name__)

STREAM = "FIELDCREW"
SUBJECTS = "fieldcrew.>"
DUPLICATE_WINDOW = 120.0
STREAM_EXISTS = 10058
# a cluster still electing its leaders, or with too few nodes up to place the replicas
CLUSTER_NOT_READY = frozenset({10005, 10008, 10023})
MISSING_STREAM = (
    "stream {stream} is missing and this NATS user may not create it (services are denied the"
    " stream-admin API); ops create it once as the NATS admin: fieldcrew stream --replicas"
    " {replicas} (deploy/README.md)"
)


@dataclass(frozen=True)
class Requirement:
    """One field of the stream's configuration: the value fieldcrew sets, whether a value
    found on the server is acceptable, and why it matters."""

    name: str
    wanted: object
    holds: Callable[[object], bool]
    why: str


def _is(value: object) -> Callable[[object], bool]:
    return lambda found: found == value


def _at_least(value: int) -> Callable[[object], bool]:
    return lambda found: isinstance(found, int) and found >= value


def _falsy(found: object) -> bool:
    return not found


def _unlimited(found: object) -> bool:
    return found is None or found == -1 or found == 0


def requirements(replicas: int) -> list[Requirement]:
    """What the stream's configuration must hold, field by field. (The duplicate window is
    set when the stream is created, 2 minutes by default, and not checked: it is about
    recognising retries, not about keeping history.)"""
    return [
        Requirement("subjects", [SUBJECTS], _is([SUBJECTS]), "every fieldcrew event"),
        Requirement("storage", api.StorageType.FILE, _is(api.StorageType.FILE), "on disk"),
        Requirement(
            "retention",
            api.RetentionPolicy.LIMITS,
            _is(api.RetentionPolicy.LIMITS),
            "kept after it is read",
        ),
        Requirement(
            "discard",
            api.DiscardPolicy.NEW,
            _is(api.DiscardPolicy.NEW),
            "a limit refuses new events instead of deleting old ones",
        ),
        *(
            Requirement(name, -1, _unlimited, "no limit deletes history")
            for name in ("max_msgs", "max_bytes", "max_msgs_per_subject")
        ),
        Requirement("max_age", 0.0, _unlimited, "no limit deletes history"),
        Requirement("num_replicas", replicas, _at_least(replicas), f"on {replicas} node(s)"),
        Requirement("deny_delete", True, _is(True), "no event is deleted"),
        Requirement("deny_purge", True, _is(True), "the stream is never purged"),
        Requirement("allow_rollup_hdrs", False, _falsy, "no roll-up purges a subject"),
        Requirement("allow_msg_ttl", False, _falsy, "no event expires"),
        Requirement("sealed", False, _falsy, "appends are possible"),
        Requirement("allow_direct", True, _is(True), "services read with direct gets"),
    ]


def desired_config(
    name: str = STREAM, replicas: int = 1, duplicate_window: float = DUPLICATE_WINDOW
) -> api.StreamConfig:
    """The configuration fieldcrew creates the stream with."""
    config = api.StreamConfig(name=name, duplicate_window=duplicate_window)
    return _with(config, requirements(replicas))


def problems(config: api.StreamConfig, replicas: int) -> list[Requirement]:
    """The requirements ``config`` does not meet."""
    return [r for r in requirements(replicas) if not r.holds(getattr(config, r.name))]


def describe(config: api.StreamConfig, unmet: list[Requirement]) -> str:
    """``num_replicas is 1, wanted 3 (on 3 node(s)); ...``"""
    return "; ".join(f"{r.name} is {_text(getattr(config, r.name))}, wanted {_text(r.wanted)}"
                     f" ({r.why})" for r in unmet)  # fmt: skip


async def ensure_stream(
    js: JetStreamContext,
    name: str = STREAM,
    *,
    replicas: int = 1,
    update: bool = False,
    duplicate_window: float = DUPLICATE_WINDOW,
) -> None:
    """Create stream ``name`` if it is missing; check it when it is there, and update it
    (``update``, for the NATS admin) or raise :class:`StreamConfigError` when it differs."""
    try:
        try:
            config = (await js.stream_info(name)).config
        except JsNotFoundError:
            await _create(js, desired_config(name, replicas, duplicate_window))
            return
        unmet = problems(config, replicas)
        if not unmet:
            return
        if not update:
            raise StreamConfigError(
                f"stream {name} is not configured to keep the log: {describe(config, unmet)}."
                f" The NATS admin fixes it: fieldcrew stream --replicas {replicas}"
            )
        await _update(js, config, unmet)
    except (NatsTimeoutError, NoRespondersError, ConnectionClosedError) as exc:
        raise BackendUnavailableError("JetStream is not answering") from exc


async def _create(js: JetStreamContext, config: api.StreamConfig) -> None:
    name, replicas = config.name, config.num_replicas
    try:
        await js.add_stream(config)
    except APIError as exc:
        if exc.err_code in CLUSTER_NOT_READY:
            raise BackendUnavailableError(f"JetStream cannot place {name} yet: {exc}") from exc
        if exc.err_code != STREAM_EXISTS:  # another process created it first: checked next start
            raise StreamConfigError(f"stream {name} could not be created: {exc}") from exc
    except (NatsTimeoutError, NoRespondersError) as exc:  # a denied request goes unanswered
        message = MISSING_STREAM.format(stream=name, replicas=replicas)
        raise BackendUnavailableError(message) from exc


async def _update(js: JetStreamContext, config: api.StreamConfig, unmet: list[Requirement]) -> None:
    changes = describe(config, unmet)
    try:
        await js.update_stream(_with(config, unmet))
    except APIError as exc:
        if exc.err_code in CLUSTER_NOT_READY:
            raise BackendUnavailableError(f"JetStream cannot update {config.name} yet") from exc
        raise StreamConfigError(
            f"stream {config.name} is not configured to keep the log ({changes}) and JetStream"
            f" refused to change it: {exc.description}. Move the events to a new stream"
            " (fieldcrew backup, then restore) to fix it."
        ) from exc
    log.warning("stream %s updated to keep the log: %s", config.name, changes)


def _with(config: api.StreamConfig, wanted: list[Requirement]) -> api.StreamConfig:
    changed: api.StreamConfig = config.evolve(**{r.name: r.wanted for r in wanted})
    return changed


def _text(value: object) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    return value if isinstance(value, str) else repr(value)
