"""Backup and restore of the event log against real nats-servers: the session's, and fresh
ones started here as the "other servers" a backup is restored into."""

from __future__ import annotations

import gzip
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from uuid import uuid4

import nats
import pytest
from fieldcrew_cli.backup import BackupFileError, Message, Progress, backup, read_log
from fieldcrew_cli.restore import RestoreError, restore
from fieldcrew_cli.servers import Infra, Ports
from fieldcrew_cli.servers.nats_server import NatsServer
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.eventstore import STREAM, EventStore
from nats.aio.client import Client as NATS
from nats.js import api

from tests.unit.factories import issued, note


class Counted(Progress):
    """Remembers what a progress bar would have shown."""

    def __init__(self) -> None:
        self.total, self.done = -1, 0

    def start(self, total: int) -> None:
        self.total = total

    def advance(self, n: int = 1) -> None:
        self.done += n


@pytest.fixture
def fresh_nats() -> Iterator[NatsServer]:
    """A new, empty nats-server with JetStream (the admin user only)."""
    with tempfile.TemporaryDirectory(prefix="fieldcrew-restore-") as folder:
        root = Path(folder)
        server = NatsServer(root / "nats", Ports.free().nats, None, secrets.token_hex(16), {})
        (root / "logs").mkdir()
        proc = server.launch(root / "logs")
        try:
            server.wait_ready(proc, time.monotonic() + 30)
            yield server
        finally:
            proc.stop()


@pytest.fixture
async def admin(infra: Infra) -> AsyncIterator[NATS]:
    """The NATS admin on the session's log, with a work order's events in it (and whatever
    other tests wrote before)."""
    nc = await nats.connect(infra.nats_url)
    wo = uuid4()
    meta = Metadata(actor="dora", actorrole="dispatcher", correlationid="c-backup")
    await EventStore(nc, source="fieldcrew/dispatch").append(issued(wo), meta, expected_version=0)
    team = EventStore(nc, source="fieldcrew/team")
    for who in ("m1", "m2"):
        await team.append(note(wo, who), meta)
    yield nc
    await nc.drain()


@pytest.fixture
async def fresh(fresh_nats: NatsServer) -> AsyncIterator[NATS]:
    nc = await nats.connect(fresh_nats.url)
    yield nc
    await nc.drain()


async def everything(nc: NATS, stream: str, first: int, last: int) -> list[Message]:
    return [m async for m in read_log(nc, stream, first, last)]


def comparable(messages: list[Message]) -> list[tuple[int, str, dict[str, str], bytes]]:
    """What must be equal after a restore (not the time JetStream stored it)."""
    return [(m.seq, m.subject, m.headers, m.data) for m in messages]


async def test_a_restore_gives_the_same_log_sequence_for_sequence(
    admin: NATS, fresh: NATS, tmp_path: Path
) -> None:
    path = tmp_path / "log.backup.gz"
    progress = Counted()
    head = await backup(admin, STREAM, path, progress)
    assert head.count > 0 and progress.total == progress.done == head.count
    restored = Counted()
    assert (await restore(fresh, path, restored, replicas=None)) == head
    assert restored.done == head.count
    before = await everything(admin, STREAM, head.first_seq, head.last_seq)
    after = await everything(fresh, STREAM, head.first_seq, head.last_seq)
    assert len(after) == head.count
    assert comparable(after) == comparable(before)
    assert any("Nats-Msg-Id" in m.headers for m in after)
    info = await fresh.jsm().stream_info(STREAM)
    # the stream's own settings came back too, its duplicate window put back after the restore
    source = await admin.jsm().stream_info(STREAM)
    assert info.config.duplicate_window == source.config.duplicate_window
    assert (info.config.subjects, info.config.deny_delete, info.config.allow_direct) == (
        source.config.subjects,
        source.config.deny_delete,
        source.config.allow_direct,
    )
    with pytest.raises(RestoreError, match="already holds"):
        await restore(fresh, path, Counted(), replicas=None)


async def test_an_id_stored_twice_after_the_duplicate_window_is_restored_twice(
    fresh_nats: NatsServer, tmp_path: Path
) -> None:
    """A retry after the duplicate window is stored again; the restore keeps both copies,
    from a stream that starts past sequence 1."""
    nc = await nats.connect(fresh_nats.url)
    try:
        js = nc.jetstream()
        config = api.StreamConfig(
            name="OLD", subjects=["old.>"], duplicate_window=0.1, allow_direct=True, first_seq=7
        )
        await js.add_stream(config)
        await js.publish("old.a", b"first", headers={"Nats-Msg-Id": "same"})
        await js.publish("old.b", b"other", headers={"Nats-Msg-Id": "else"})
        while (await js.publish("old.a", b"first", headers={"Nats-Msg-Id": "same"})).duplicate:
            pass  # until the server's window lets the same id in again
        path = tmp_path / "old.gz"
        head = await backup(nc, "OLD", path, Counted())
        source = await everything(nc, "OLD", 7, head.last_seq)
        await js.delete_stream("OLD")  # the "other servers": same server, the stream gone
        await restore(nc, path, Counted(), replicas=None)
        restored = await everything(nc, "OLD", 7, head.last_seq)
    finally:
        await nc.drain()
    assert (head.first_seq, head.last_seq) == (7, 9)
    assert comparable(restored) == comparable(source)
    assert [m.headers["Nats-Msg-Id"] for m in restored] == ["same", "else", "same"]


async def test_a_damaged_or_truncated_backup_is_refused(
    admin: NATS, fresh: NATS, tmp_path: Path
) -> None:
    path = tmp_path / "log.gz"
    await backup(admin, STREAM, path, Counted())
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(gzip.compress(b"".join(lines[:-2])))
    with pytest.raises(BackupFileError, match="truncated"):
        await restore(fresh, truncated, Counted(), replicas=None)
    altered = tmp_path / "altered.gz"
    altered.write_bytes(gzip.compress(b"".join([lines[0], lines[2], lines[1], *lines[3:]])))
    with pytest.raises(BackupFileError, match="does not match its own checksum"):
        await restore(fresh, altered, Counted(), replicas=None)
    not_a_backup = tmp_path / "nothing.gz"
    not_a_backup.write_bytes(b"hello")
    with pytest.raises(BackupFileError, match="not a fieldcrew log backup"):
        await restore(fresh, not_a_backup, Counted(), replicas=None)
    # refused before anything was written: the other servers have no stream yet
    assert STREAM not in [s.config.name for s in await fresh.jsm().streams_info()]
