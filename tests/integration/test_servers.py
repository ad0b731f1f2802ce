"""Integration tests for the embedded backing servers: real processes, no mocks."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import nats
import nats.errors
import psutil
import pytest
from fieldcrew_cli.servers import EmbeddedServers, Infra, Ports
from minio import Minio
from minio.error import S3Error

ENV_OVERRIDES = (
    "FIELDCREW_NATS_URL",
    "FIELDCREW_DATABASE_URL",
    "FIELDCREW_S3_ENDPOINT",
    "FIELDCREW_S3_ACCESS_KEY",
    "FIELDCREW_S3_SECRET_KEY",
    "FIELDCREW_S3_SECURE",
)


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    """A fresh data dir. Not ``tmp_path``: as root, postgres runs as user ``pgserver`` and must
    traverse the path, but every new pytest session resets ``/tmp/pytest-of-root`` to 0700."""
    with tempfile.TemporaryDirectory(prefix="fieldcrew-servers-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="module")
def servers(data_dir: Path) -> Iterator[EmbeddedServers]:
    """All three servers on free ports, with no environment overrides."""
    with pytest.MonkeyPatch.context() as env:
        for name in ENV_OVERRIDES:
            env.delenv(name, raising=False)
        embedded = EmbeddedServers(data_dir, ports=Ports.free())
        with embedded:
            yield embedded


@pytest.fixture
def infra(servers: EmbeddedServers) -> Infra:
    """Connection settings of the running servers (start() is idempotent)."""
    return servers.start()


def s3_client(infra: Infra, *, access_key: str = "", secret_key: str = "") -> Minio:
    """A minio client for ``infra``, optionally with other credentials."""
    return Minio(
        infra.s3_endpoint,
        access_key=access_key or infra.s3_access_key,
        secret_key=secret_key or infra.s3_secret_key,
        secure=infra.s3_secure,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def is_gone(process: psutil.Process) -> bool:
    """True once ``process`` has exited (a zombie nobody reaped counts as exited)."""
    try:
        return bool(process.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def process(pid: int) -> psutil.Process | None:
    """``pid``'s process, or None when it has ended already (a PostgreSQL backend that served
    the start's last query may end between the listing and this)."""
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


async def _ignore_error(_: Exception) -> None:
    """nats-py error callback that keeps expected failures out of the log."""


async def test_jetstream_flags_duplicate_msg_id(infra: Infra) -> None:
    nc = await nats.connect(infra.nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="SRVTEST", subjects=["srvtest.>"])
        first = await js.publish("srvtest.a", b"one", headers={"Nats-Msg-Id": "m-1"})
        again = await js.publish("srvtest.a", b"one", headers={"Nats-Msg-Id": "m-1"})
        assert not first.duplicate
        assert again.duplicate
        assert again.seq == first.seq
    finally:
        await nc.close()


async def test_nats_refuses_wrong_password(infra: Infra) -> None:
    wrong = infra.nats_url.replace("fieldcrew:", "fieldcrew:wrong", 1)
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(wrong, allow_reconnect=False, error_cb=_ignore_error)


async def test_postgres_creates_table_and_inserts(infra: Infra) -> None:
    conn = await asyncpg.connect(infra.database_url)
    try:
        assert await conn.fetchval("SELECT current_database()") == "fieldcrew"
        await conn.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
        await conn.execute("INSERT INTO notes (body) VALUES ($1), ($2)", "a", "b")
        assert await conn.fetchval("SELECT count(*) FROM notes") == 2
    finally:
        await conn.close()


def test_s3_put_get_and_presigned_url(infra: Infra) -> None:
    client = s3_client(infra)
    client.make_bucket("srvtest")
    client.put_object("srvtest", "a/b.txt", io.BytesIO(b"hello"), 5, content_type="text/plain")
    response = client.get_object("srvtest", "a/b.txt")
    try:
        assert response.read() == b"hello"
    finally:
        response.close()
        response.release_conn()
    url = client.presigned_get_object("srvtest", "a/b.txt")
    fetched = httpx.get(url)
    assert fetched.status_code == 200
    assert fetched.content == b"hello"


def test_s3_refuses_wrong_credentials(infra: Infra) -> None:
    with pytest.raises(S3Error) as wrong_secret:
        s3_client(infra, secret_key="wrong-secret").list_buckets()
    assert wrong_secret.value.code == "SignatureDoesNotMatch"
    with pytest.raises(S3Error) as unknown_key:
        s3_client(infra, access_key="nobody").list_buckets()
    assert unknown_key.value.code == "InvalidAccessKeyId"
    assert httpx.get(f"http://{infra.s3_endpoint}/").status_code == 403  # anonymous


async def _write_markers(infra: Infra) -> None:
    nc = await nats.connect(infra.nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="DURABLE", subjects=["durable.>"])
        await js.publish("durable.marker", b"survives")
    finally:
        await nc.close()
    conn = await asyncpg.connect(infra.database_url)
    try:
        await conn.execute("CREATE TABLE markers (body text)")
        await conn.execute("INSERT INTO markers VALUES ('survives')")
    finally:
        await conn.close()
    client = s3_client(infra)
    client.make_bucket("durable")
    client.put_object("durable", "marker", io.BytesIO(b"survives"), 8)


async def _read_markers(infra: Infra) -> tuple[bytes, str, bytes]:
    nc = await nats.connect(infra.nats_url)
    try:
        message = await nc.jetstream().get_last_msg("DURABLE", "durable.marker")
    finally:
        await nc.close()
    conn = await asyncpg.connect(infra.database_url)
    try:
        row = await conn.fetchval("SELECT body FROM markers")
    finally:
        await conn.close()
    response = s3_client(infra).get_object("durable", "marker")
    try:
        return message.data or b"", row, response.read()
    finally:
        response.close()
        response.release_conn()


def _children() -> set[psutil.Process]:
    return set(psutil.Process().children(recursive=True))


async def test_stop_leaves_no_child_and_restart_keeps_data(servers: EmbeddedServers) -> None:
    servers.stop()  # the fixture started them; count only what this start adds
    others = _children()  # the session's own servers and services, when run in the suite
    before = servers.start()
    await _write_markers(before)
    children = _children() - others
    assert len(children) >= 3  # nats-server, weed, postgres (+ postgres helpers)

    servers.stop()
    servers.stop()  # idempotent

    assert [child for child in children if child.is_running()] == []
    assert _children() - others == set()

    after = servers.start()
    assert after == before  # same ports, same persisted secrets
    assert await _read_markers(after) == (b"survives", "survives", b"survives")


def test_logs_and_data_live_in_data_dir(servers: EmbeddedServers) -> None:
    root = Path(servers.data_dir)
    assert {"nats", "pg", "s3", "logs", "secrets.json"} <= {p.name for p in root.iterdir()}
    assert {"nats.log", "postgres.log", "s3.log"} <= {p.name for p in (root / "logs").iterdir()}
    assert (root / "secrets.json").stat().st_mode & 0o077 == 0


CHILD_SCRIPT = """
import json, sys, psutil
from pathlib import Path
from fieldcrew_cli.servers import EmbeddedServers, Ports
EmbeddedServers(Path(sys.argv[1]), ports=Ports.free()).start()
print(json.dumps([p.pid for p in psutil.Process().children(recursive=True)]), flush=True)
sys.stdin.read()
"""


def test_servers_die_when_parent_is_killed(data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES}
    with subprocess.Popen(
        [sys.executable, "-c", CHILD_SCRIPT, str(data_dir / "orphans")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    ) as parent:
        assert parent.stdout is not None
        servers = [p for pid in json.loads(parent.stdout.readline()) if (p := process(pid))]
        assert len(servers) >= 3
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    wait_for(lambda: all(is_gone(server) for server in servers))
