"""The log and the photo bucket are the only state: crews play, ``fieldcrew backup`` takes the
log, the bucket is mirrored, ``fieldcrew restore`` puts the log into fresh servers, and the
system started there rebuilds its projection from it and answers as the first one does."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fieldcrew_cli.servers import EmbeddedServers, Infra, Ports
from fieldcrew_cli.stack import SERVICES, Stack, service_env
from fieldcrew_shared.eventstore import EventStore
from minio import Minio

from tests.e2e.conftest import Crew, free_port, issue
from tests.e2e.test_crew_flow import play_notes_and_photos
from tests.e2e.test_rebuild import completed_work_order
from tests.renditions import all_made

BUCKET = "fieldcrew-photos"
SERVER_ENV = (
    "FIELDCREW_NATS_URL",
    "FIELDCREW_DATABASE_URL",
    "FIELDCREW_S3_ENDPOINT",
    "FIELDCREW_S3_ACCESS_KEY",
    "FIELDCREW_S3_SECRET_KEY",
    "FIELDCREW_S3_SECURE",
)


@pytest.fixture
def fresh_infra() -> Iterator[Infra]:
    """New, empty NATS, PostgreSQL and S3 servers: the "other servers" of a restore."""
    with (
        pytest.MonkeyPatch.context() as env,
        tempfile.TemporaryDirectory(prefix="fieldcrew-restored-") as folder,
    ):
        for name in SERVER_ENV:  # the session's servers must not stand in for new ones
            env.delenv(name, raising=False)
        with EmbeddedServers(Path(folder), ports=Ports.free()) as infra:
            yield infra


def s3(infra: Infra) -> Minio:
    return Minio(
        infra.s3_endpoint, infra.s3_access_key, infra.s3_secret_key, secure=infra.s3_secure
    )


def mirror_bucket(source: Infra, target: Infra) -> int:
    """What ``mc mirror`` (deploy/README.md) does: every object, bytes and type, copied."""
    src, dst = s3(source), s3(target)
    if not dst.bucket_exists(BUCKET):
        dst.make_bucket(BUCKET)
    copied = 0
    for obj in src.list_objects(BUCKET, recursive=True):
        assert obj.object_name is not None
        response = src.get_object(BUCKET, obj.object_name)
        try:
            data = response.read()
            kind = response.headers.get("Content-Type", "application/octet-stream")
        finally:
            response.close()
            response.release_conn()
        dst.put_object(BUCKET, obj.object_name, _Bytes(data), len(data), content_type=kind)
        copied += 1
    return copied


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.at + size
        chunk, self.at = self.data[self.at : end], min(end, len(self.data))
        return chunk


async def fieldcrew(*args: str, env: dict[str, str]) -> str:
    """Run the ``fieldcrew`` command; its stdout (it must succeed)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fieldcrew_cli",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def compiled(api: httpx.AsyncClient, url: str, who: dict[str, str]) -> Any:
    """The report at ``url`` once the aggregator has compiled it (a restored system's
    aggregator replays the log at its start; a 404 means it is not there yet)."""
    for _ in range(1200):  # at most two minutes (a loaded machine replays slowly)
        r = await api.get(url, headers=who)
        if r.status_code != 404:
            assert r.status_code == 200, r.text
            return r.json()
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} was not compiled within two minutes")


async def answers(
    gateway: str, crew: Crew, wo: str, revisions: int
) -> tuple[list[Any], list[Any], Any]:
    """A work order's server reports (every revision), its photos (without their short-lived
    URLs) and its status, through ``gateway``; waits for the last revision to be compiled."""
    who = crew.auth(crew.dispatcher)
    async with httpx.AsyncClient(base_url=f"{gateway}/api/v1", timeout=30) as api:
        reports = [
            await compiled(api, f"/work-orders/{wo}/server-report?revision={n}", who)
            for n in range(1, revisions + 1)
        ]
        photos = (await api.get(f"/work-orders/{wo}/photos", headers=who)).json()
        status = (await api.get(f"/work-orders/{wo}", headers=who)).json()
        served = {p["sha256"]: (await api.get(p.pop("url"))).content for p in photos}
        thumbnails = {p["sha256"]: (await api.get(p.pop("thumbnail_url"))).content for p in photos}
    assert len(thumbnails) == len(served) and all(thumbnails.values())
    return reports, [photos, served], status


async def test_backup_restore_into_fresh_servers_gives_the_same_reports_and_photos(
    api: httpx.AsyncClient,
    crew: Crew,
    log: EventStore,
    stack: Stack,
    infra: Infra,
    keys: tuple[Path, Path],
    fresh_infra: Infra,
    tmp_path: Path,
) -> None:
    completed = await completed_work_order(api, crew, log)  # revisions 1 and 2
    open_one = await issue(api, crew)
    await play_notes_and_photos(api, crew, open_one)
    for wo in (completed, open_one):  # what the backup holds: every photo with its copies
        await all_made(log, wo)
    cli_env = {**stack.env, "FIELDCREW_DATA_DIR": str(tmp_path / "cli")}
    backup = tmp_path / "fieldcrew.log.gz"
    said = await fieldcrew("backup", str(backup), env=cli_env)
    assert "backed up" in said and backup.stat().st_size > 0
    assert mirror_bucket(infra, fresh_infra) >= 12  # originals, served copies, thumbnails

    fresh_env = service_env(fresh_infra, keys[1], {name: free_port() for name in SERVICES})
    said = await fieldcrew(
        "restore", str(backup), env={**fresh_env, "FIELDCREW_DATA_DIR": str(tmp_path / "cli")}
    )
    assert "restored" in said
    restored = Stack(logs=tmp_path / "logs", env=fresh_env)
    restored.ports = {
        name: int(fresh_env[f"FIELDCREW_{name.upper()}_URL"].rsplit(":", 1)[1]) for name in SERVICES
    }
    await asyncio.to_thread(restored.start)
    try:
        first, second = stack.env["FIELDCREW_GATEWAY_URL"], fresh_env["FIELDCREW_GATEWAY_URL"]
        before = await answers(first, crew, completed, 2)
        after = await answers(second, crew, completed, 2)
        assert after == before
        assert before[0][1]["revision"] == 2 and len(before[1][0]) == 5
        assert await answers(second, crew, open_one, 0) == await answers(first, crew, open_one, 0)
    finally:
        await asyncio.to_thread(restored.stop)
