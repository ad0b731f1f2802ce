"""``fieldcrew restore PATH``: a backup into an empty stream, sequence for sequence
(docs/adr/0054-log-backup-by-ordered-read.md).

Each message is published again with its own subject, headers and body, in order, and its
acknowledgement must name the sequence it had: anything else (another writer, a gap) stops the
restore with the sequence where it happened. The headers go back unchanged, so JetStream checks
them again: an ``Nats-Expected-Last-Subject-Sequence`` holds as it held the first time (the
history before it is the same), and a ``Nats-Msg-Id`` seen twice in the original log (a retry
after the duplicate window) would be dropped as a duplicate. So the stream's duplicate window is
held at its minimum (100 ms) while restoring, a repeated id waits that long before it is sent,
and the window is put back at the end.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import time
from collections import deque
from pathlib import Path

import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api
from nats.js.errors import NotFoundError as JsNotFoundError
from nats.js.manager import JetStreamManager

from fieldcrew_cli.backup import Head, Message, Progress, read_backup

IN_FLIGHT = 256
RESTORE_WINDOW = 0.1  # seconds: the least duplicate window JetStream accepts
ACK_TIMEOUT = 10.0


class RestoreError(Exception):
    """The restore cannot go on; the message says where and why."""


async def restore(nc: NATS, path: Path, progress: Progress, *, replicas: int | None) -> Head:
    """Put the backup at ``path`` into its stream, which must be missing (it is created from
    the backed-up config, with ``replicas`` if given) or empty."""
    head, messages = read_backup(path)
    jsm = nc.jsm()
    window = await _prepare(jsm, head, replicas)
    progress.start(head.count)
    publisher = await _Publisher.open(nc)
    try:
        for message in messages:
            await publisher.send(message)
            progress.advance()
        await publisher.flush()
    finally:
        await publisher.close()
        info = await jsm.stream_info(head.stream)
        await jsm.update_stream(info.config.evolve(duplicate_window=window))
    if int(info.state.last_seq) != head.last_seq or int(info.state.messages) != head.count:
        raise RestoreError(
            f"stream {head.stream} ends at {info.state.last_seq} with {info.state.messages}"
            f" messages; the backup ends at {head.last_seq} with {head.count}"
        )
    return head


async def _prepare(jsm: JetStreamManager, head: Head, replicas: int | None) -> float:
    """Make the stream ready to take the backup with the restore's duplicate window; the
    window to put back afterwards."""
    try:
        info = await jsm.stream_info(head.stream)
    except JsNotFoundError:
        config = _config_of(head, replicas)
        window = config.duplicate_window or 120.0
        await jsm.add_stream(config.evolve(duplicate_window=RESTORE_WINDOW))
        return window
    if info.state.last_seq or info.state.messages:
        raise RestoreError(
            f"stream {head.stream} already holds {info.state.messages} messages (up to sequence"
            f" {info.state.last_seq}); restore only into an empty stream, on new servers"
        )
    if head.first_seq > 1:
        raise RestoreError(
            f"the backup starts at sequence {head.first_seq}: let restore create stream"
            f" {head.stream} itself (its first sequence is set when it is created)"
        )
    window = info.config.duplicate_window or 120.0
    await jsm.update_stream(info.config.evolve(duplicate_window=RESTORE_WINDOW))
    return window


def _config_of(head: Head, replicas: int | None) -> api.StreamConfig:
    """The backed-up stream config, as new: first sequence and replicas set, the server's
    own metadata left out."""
    raw = copy.deepcopy(head.config)  # nats-py converts nested values in place
    metadata = {k: v for k, v in (raw.get("metadata") or {}).items() if not k.startswith("_nats")}
    raw["metadata"] = metadata or None
    config = api.StreamConfig.from_response(raw)
    changes: dict[str, object] = {"first_seq": head.first_seq if head.first_seq > 1 else None}
    if replicas is not None:
        changes["num_replicas"] = replicas
    new: api.StreamConfig = config.evolve(**changes)
    return new


class _Publisher:
    """Publishes messages in order, up to :data:`IN_FLIGHT` unacknowledged, and checks that
    each was stored at its own sequence."""

    def __init__(self, nc: NATS, prefix: str) -> None:
        self.nc, self.prefix = nc, prefix
        self.tokens = itertools.count()
        self.waiting: dict[str, asyncio.Future[Msg]] = {}
        self.in_flight: deque[tuple[int, asyncio.Future[Msg]]] = deque()
        self.recent: deque[tuple[float, str]] = deque()  # (sent at, Nats-Msg-Id)
        self.recent_ids: dict[str, float] = {}
        self.sub: Subscription | None = None

    @classmethod
    async def open(cls, nc: NATS) -> _Publisher:
        publisher = cls(nc, nc.new_inbox() + ".")
        publisher.sub = await nc.subscribe(publisher.prefix + "*", cb=publisher._on_ack)
        return publisher

    async def send(self, message: Message) -> None:
        await self._wait_for_window(message.headers.get("Nats-Msg-Id"))
        token = str(next(self.tokens))
        reply: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self.waiting[token] = reply
        await self.nc.publish(
            message.subject,
            message.data,
            reply=self.prefix + token,
            headers=message.headers or None,
        )
        self.in_flight.append((message.seq, reply))
        if len(self.in_flight) >= IN_FLIGHT:
            await self._check_oldest()

    async def flush(self) -> None:
        """Wait for every acknowledgement still due."""
        while self.in_flight:
            await self._check_oldest()

    async def close(self) -> None:
        if self.sub is not None:
            await self.sub.unsubscribe()

    async def _wait_for_window(self, msg_id: str | None) -> None:
        """A message id sent within the duplicate window would be dropped: let it pass."""
        now = time.monotonic()
        while self.recent and now - self.recent[0][0] > RESTORE_WINDOW * 2:
            _, old = self.recent.popleft()
            if self.recent_ids.get(old, 0.0) <= now - RESTORE_WINDOW * 2:
                self.recent_ids.pop(old, None)
        if msg_id is None:
            return
        sent = self.recent_ids.get(msg_id)
        if sent is not None:
            await self.flush()
            await asyncio.sleep(max(0.0, sent + RESTORE_WINDOW * 2 - time.monotonic()))
        self.recent.append((time.monotonic(), msg_id))
        self.recent_ids[msg_id] = time.monotonic()

    async def _check_oldest(self) -> None:
        seq, reply = self.in_flight.popleft()
        try:
            msg = await asyncio.wait_for(reply, ACK_TIMEOUT)
        except TimeoutError as exc:
            raise RestoreError(f"JetStream did not acknowledge sequence {seq}") from exc
        if msg.headers and msg.headers.get("Status") == "503":
            raise RestoreError(f"no stream takes the subject of sequence {seq}")
        answer = orjson.loads(msg.data)
        if "error" in answer:
            raise RestoreError(f"JetStream refused sequence {seq}: {answer['error']}")
        if answer.get("duplicate") or int(answer["seq"]) != seq:
            raise RestoreError(
                f"sequence {seq} was stored as {answer['seq']}"
                f"{' (a duplicate)' if answer.get('duplicate') else ''}: is something else"
                " writing to the stream? Restore into an empty stream nobody else writes to"
            )

    async def _on_ack(self, msg: Msg) -> None:
        reply = self.waiting.pop(msg.subject[len(self.prefix) :], None)
        if reply is not None and not reply.done():
            reply.set_result(msg)
