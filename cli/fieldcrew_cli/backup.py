"""``fieldcrew backup PATH``: the whole event log, every message with its subject, headers and
sequence, in one file (docs/adr/0054-log-backup-by-ordered-read.md).

The file is gzip-compressed JSON lines:

1. a head: ``{"format": "fieldcrew-log-backup", "version": 1, "stream": ..., "config": the
   stream's config as JetStream reports it, "first_seq", "last_seq", "taken_at"}``;
2. one line per message, in stream order: ``{"seq", "subject", "time" (when JetStream stored
   it), "headers": {...}, "data": base64}``;
3. a tail: ``{"end": true, "messages": n, "sha256": hex}``, the hash of the message lines, so a
   truncated or altered file is refused by ``fieldcrew restore``.

The log is read with batched direct gets as the admin user, from the first sequence to the last
one there when the backup started: a consistent prefix of an append-only log, taken while the
services keep writing.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from fieldcrew_shared.errors import BackendUnavailableError
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NotFoundError as JsNotFoundError

FORMAT = "fieldcrew-log-backup"
VERSION = 1
BATCH = 1024
# what a direct get adds to a stored message's own headers
DIRECT_GET_HEADERS = frozenset(
    {
        "Nats-Stream",
        "Nats-Subject",
        "Nats-Sequence",
        "Nats-Time-Stamp",
        "Nats-Num-Pending",
        "Nats-Last-Sequence",
    }
)


class BackupFileError(Exception):
    """A backup file that is not one, is truncated, or does not hash to its tail."""


@dataclass(frozen=True)
class Message:
    """One stored message of the stream, as it is backed up and restored."""

    seq: int
    subject: str
    time: str
    headers: dict[str, str]
    data: bytes

    def line(self) -> bytes:
        """The message as one JSON line (with its newline)."""
        doc = {
            "seq": self.seq,
            "subject": self.subject,
            "time": self.time,
            "headers": self.headers,
            "data": base64.b64encode(self.data).decode("ascii"),
        }
        return json.dumps(doc, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def parse(cls, line: bytes) -> Message:
        doc = json.loads(line)
        return cls(
            seq=int(doc["seq"]),
            subject=str(doc["subject"]),
            time=str(doc["time"]),
            headers={str(k): str(v) for k, v in doc["headers"].items()},
            data=base64.b64decode(doc["data"], validate=True),
        )


@dataclass(frozen=True)
class Head:
    """What a backup holds: which stream, its config, and its range of sequences."""

    stream: str
    config: dict[str, Any]
    first_seq: int
    last_seq: int
    taken_at: str

    @property
    def count(self) -> int:
        """Messages in the backup (an empty stream reports first 0, last 0)."""
        return max(0, self.last_seq - self.first_seq + 1) if self.last_seq else 0

    def line(self) -> bytes:
        doc = {"format": FORMAT, "version": VERSION, **self.__dict__}
        return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


async def stream_range(nc: NATS, stream: str) -> tuple[dict[str, Any], int, int]:
    """The stream's config as JetStream reports it, its first and its last sequence."""
    js = nc.jsm()
    try:
        info = await js.stream_info(stream)
    except JsNotFoundError as exc:
        raise BackendUnavailableError(f"there is no stream {stream} to back up") from exc
    except (NatsTimeoutError, NoRespondersError) as exc:
        raise BackendUnavailableError("JetStream is not answering") from exc
    config = info.config.as_dict()
    return config, int(info.state.first_seq), int(info.state.last_seq)


async def read_log(nc: NATS, stream: str, first: int, last: int) -> AsyncIterator[Message]:
    """Every message of ``stream`` from ``first`` to ``last``, in order, with its own headers."""
    inbox = nc.new_inbox()
    queue: asyncio.Queue[Msg] = asyncio.Queue()
    sub = await nc.subscribe(inbox, cb=queue.put)
    try:
        start = first
        while start <= last:
            request = {"seq": start, "batch": min(BATCH, last - start + 1)}
            await nc.publish(f"$JS.API.DIRECT.GET.{stream}", json.dumps(request).encode(), inbox)
            before = start
            async for message in _batch(queue):
                if message.seq <= last:
                    yield message
                    start = message.seq + 1
            if start == before:  # nothing more up to ``last``
                return
    finally:
        await sub.unsubscribe()


async def _batch(queue: asyncio.Queue[Msg]) -> AsyncIterator[Message]:
    """The messages of one batched direct get, until its end-of-batch (or not-found) status."""
    while True:
        try:
            msg = await asyncio.wait_for(queue.get(), 10)
        except TimeoutError as exc:
            raise BackendUnavailableError("JetStream did not answer a read") from exc
        headers = msg.headers or {}
        status = headers.get("Status")
        if status in ("204", "404"):
            return
        if status is not None:
            raise BackendUnavailableError(f"direct get failed: {status} {headers}")
        own = {k: v for k, v in headers.items() if k not in DIRECT_GET_HEADERS}
        yield Message(
            seq=int(headers["Nats-Sequence"]),
            subject=headers["Nats-Subject"],
            time=headers.get("Nats-Time-Stamp", ""),
            headers=own,
            data=msg.data,
        )


class BackupWriter:
    """Writes a backup file: head, message lines, and the hash tail."""

    def __init__(self, out: BinaryIO, head: Head) -> None:
        self.out, self.head = out, head
        self.hash = hashlib.sha256()
        self.count = 0
        out.write(head.line())

    def write(self, message: Message) -> None:
        line = message.line()
        self.hash.update(line)
        self.out.write(line)
        self.count += 1

    def close(self) -> None:
        tail = {"end": True, "messages": self.count, "sha256": self.hash.hexdigest()}
        self.out.write(json.dumps(tail).encode() + b"\n")


def read_backup(path: Path) -> tuple[Head, Iterator[Message]]:
    """The head of the backup at ``path`` and an iterator over its messages. The whole file is
    checked against its tail first (:class:`BackupFileError` when it is truncated or altered),
    so that a bad file is refused before anything is restored from it."""
    head = _head(path)
    for _ in _messages(path):
        pass
    return head, _messages(path)


def _head(path: Path) -> Head:
    try:
        with gzip.open(path, "rb") as fh:
            doc = json.loads(fh.readline() or b"null")
    except (OSError, EOFError, ValueError) as exc:
        raise BackupFileError(f"{path} is not a fieldcrew log backup: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise BackupFileError(f"{path} is not a fieldcrew log backup (version {VERSION})")
    return Head(
        stream=doc["stream"],
        config=doc["config"],
        first_seq=int(doc["first_seq"]),
        last_seq=int(doc["last_seq"]),
        taken_at=doc["taken_at"],
    )


def _messages(path: Path) -> Iterator[Message]:
    digest, count = hashlib.sha256(), 0
    with gzip.open(path, "rb") as fh:
        fh.readline()  # the head
        try:
            for line in fh:
                if line.startswith(b'{"end"'):
                    tail = json.loads(line)
                    if tail["messages"] != count or tail["sha256"] != digest.hexdigest():
                        raise BackupFileError(f"{path} does not match its own checksum")
                    return
                digest.update(line)
                count += 1
                yield Message.parse(line)
        except (OSError, EOFError, ValueError, KeyError) as exc:
            raise BackupFileError(f"{path} is damaged after {count} messages: {exc}") from exc
    raise BackupFileError(f"{path} is truncated after {count} messages (no end line)")


async def backup(nc: NATS, stream: str, path: Path, progress: Progress) -> Head:
    """Write every message of ``stream`` up to its current last sequence to ``path`` (through
    a temporary file renamed at the end, so a failed backup leaves no half file)."""
    config, first, last = await stream_range(nc, stream)
    taken_at = datetime.now(UTC).isoformat()
    head = Head(stream=stream, config=config, first_seq=first, last_seq=last, taken_at=taken_at)
    partial = path.with_name(path.name + ".partial")
    progress.start(head.count)
    with gzip.open(partial, "wb", compresslevel=6) as out:
        writer = BackupWriter(out, head)  # type: ignore[arg-type]  # GzipFile is one
        if last >= first > 0:
            async for message in read_log(nc, stream, first, last):
                writer.write(message)
                progress.advance()
        writer.close()
    if writer.count != head.count:
        partial.unlink()
        raise BackupFileError(
            f"read {writer.count} messages of {stream}, expected {head.count}: the stream has"
            " gaps (deleted messages), which a sequence-for-sequence restore cannot recreate"
        )
    partial.replace(path)
    return head


class Progress:
    """A progress bar on stderr (rich); :class:`Progress` itself shows nothing."""

    def start(self, total: int) -> None:
        """``total`` messages are coming."""

    def advance(self, n: int = 1) -> None:
        """``n`` more are done."""

    def stop(self) -> None:
        """Done (or failed): remove the bar."""
