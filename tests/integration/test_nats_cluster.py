"""A real 3-node NATS JetStream cluster: the stream on 3 replicas keeps every acknowledged
event when the node leading it is killed, appends go on through the other nodes, and the
killed node comes back and catches up. Once on the test session's cluster (as
``fieldcrew run --nats-nodes 3`` starts it), once on three nodes configured by the
production file ``deploy/nats/nats-server.conf`` (ports and paths substituted)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
from fieldcrew_cli.servers import Ports
from fieldcrew_cli.servers.nats_deploy import password_variable
from fieldcrew_cli.servers.nats_server import INTEGRATION_USER, NATS_USER, SERVICE_USERS
from fieldcrew_cli.servers.process import ManagedProcess, find_binary, spawn, wait_until
from fieldcrew_cli.stack import create_stream
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import BackendUnavailableError
from fieldcrew_shared.events import Event
from fieldcrew_shared.eventstore import STREAM, EventStore, connect
from fieldcrew_shared.natsclient import inbox_prefix

from tests.cluster import LocalCluster
from tests.unit.factories import issued, note

META = Metadata(actor="dora", actorrole="dispatcher", correlationid="c-cluster")
DEPLOY_CONF = Path(__file__).parents[2] / "deploy" / "nats" / "nats-server.conf"


async def open_store(urls: str, service: str) -> EventStore:
    """``service``'s event store over every node's URL, with its own inbox prefix."""
    nc = await connect(urls, name=f"test-{service}", inbox_prefix=inbox_prefix(service))
    return EventStore(nc, source=f"fieldcrew/{service}")


async def acknowledged(store: EventStore, event: Event, event_id: UUID) -> int:
    """Append until JetStream acknowledges (the same event id: a retry is a duplicate)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return (await store.append(event, META, event_id=event_id)).seq
        except BackendUnavailableError:  # no leader for a moment: the client may retry
            assert time.monotonic() < deadline, "no acknowledgement within 60 s"
            await asyncio.sleep(0.2)


async def caught_up(admin: EventStore, nodes: int) -> None:
    """Wait until the stream has a leader and every other replica is current."""
    deadline = time.monotonic() + 60
    while True:
        info = await admin.js.stream_info(STREAM)
        replicas = (info.cluster.replicas or []) if info.cluster else []
        leader = info.cluster.leader if info.cluster else None
        if leader and len(replicas) == nodes - 1 and all(r.current for r in replicas):
            return
        assert time.monotonic() < deadline, f"replicas not current: {info.cluster}"
        await asyncio.sleep(0.2)


async def append_through_a_leader_loss(
    store: EventStore, kill_leader: Callable[[], None], event: Event
) -> tuple[list[UUID], list[int]]:
    """Ten appends, the stream leader killed, ten more; returns the ids and sequences."""
    ids = [uuid4() for _ in range(20)]
    seqs = [await acknowledged(store, event, eid) for eid in ids[:10]]
    await asyncio.to_thread(kill_leader)
    seqs += [await acknowledged(store, event, eid) for eid in ids[10:]]
    return ids, seqs


async def test_the_sessions_cluster_keeps_every_event_when_the_stream_leader_dies(
    nats_cluster: LocalCluster,
) -> None:
    admin = await open_store(nats_cluster.url, "admin")
    store = await open_store(nats_cluster.service_urls["dispatch"], "dispatch")
    try:
        info = await admin.js.stream_info(STREAM)
        assert info.config.num_replicas == 3 and info.config.discard == "new"
        wo = uuid4()
        killed: list[tuple[str, int]] = []

        def kill_leader() -> None:
            leader = nats_cluster.leader()
            assert leader is not None
            pid = nats_cluster.supervisor.pid(leader)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            killed.append((leader, pid))

        ids, seqs = await append_through_a_leader_loss(store, kill_leader, issued(wo))
        [(leader, pid)] = killed
        await asyncio.to_thread(nats_cluster.supervisor.wait_restarted, leader, pid)
        await caught_up(admin, nodes=3)
        stored = await admin.load(f"fieldcrew.dispatch.{wo}.>")
        assert [UUID(r.envelope.id) for r in stored.records] == ids  # each once, in order
        assert [r.seq for r in stored.records] == seqs
    finally:
        await store.nc.drain()
        await admin.nc.drain()


@dataclass
class DeployNode:
    name: str
    client: int
    cluster: int
    monitor: int
    proc: ManagedProcess | None = None


def node_config(text: str, node: DeployNode, nodes: list[DeployNode], store: Path) -> str:
    """The production file for ``node`` on loopback: its ports, its store, its routes."""
    changes = {
        "server_name: nats-1": f"server_name: {node.name}",
        "listen: 0.0.0.0:4222": f"listen: 127.0.0.1:{node.client}",
        "http: 127.0.0.1:8222": f"http: 127.0.0.1:{node.monitor}",
        "store_dir: /var/lib/nats": f"store_dir: {store}",
        "listen: 0.0.0.0:6222": f"listen: 127.0.0.1:{node.cluster}",
        **{f"nats://{n.name}:6222": f"nats://127.0.0.1:{n.cluster}" for n in nodes},
    }
    for old, new in changes.items():
        assert text.count(old) == 1, f"{old!r} is not in deploy/nats/nats-server.conf once"
        text = text.replace(old, new)
    return text


@pytest.fixture
def deploy_cluster() -> Iterator[tuple[list[DeployNode], dict[str, str]]]:
    """Three nodes started from ``deploy/nats/nats-server.conf``; yields them and the
    passwords (user → password) the servers took from their environment."""
    ports = Ports.free()
    nodes = [DeployNode(f"nats-{i}", p.client, p.cluster, p.monitor or 0)
             for i, p in enumerate(ports.nats_nodes(3), start=1)]  # fmt: skip
    users = (NATS_USER, *SERVICE_USERS, INTEGRATION_USER)
    passwords = {user: secrets.token_hex(16) for user in users}
    env = {**os.environ, **{password_variable(u): pw for u, pw in passwords.items()}}
    with tempfile.TemporaryDirectory(prefix="fieldcrew-deploy-nats-") as folder:
        root = Path(folder)
        try:
            for node in nodes:
                conf = root / f"{node.name}.conf"
                conf.write_text(node_config(DEPLOY_CONF.read_text(), node, nodes, root / node.name))
                argv = [str(find_binary("nats-server")), "-c", str(conf)]
                node.proc = spawn(node.name, argv, log_dir=root, cwd=root, env=env)
            for node in nodes:
                assert node.proc is not None
                wait_until(lambda n=node: healthy(n), node.proc, time.monotonic() + 60)
            yield nodes, passwords
        finally:
            for node in nodes:
                if node.proc is not None:
                    node.proc.stop()


def healthy(node: DeployNode) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{node.monitor}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def urls(user: str, password: str, nodes: list[DeployNode]) -> str:
    return ",".join(f"nats://{user}:{password}@127.0.0.1:{n.client}" for n in nodes)


async def test_the_production_config_runs_an_r3_stream_that_survives_losing_a_node(
    deploy_cluster: tuple[list[DeployNode], dict[str, str]],
) -> None:
    nodes, passwords = deploy_cluster
    admin_urls = urls(NATS_USER, passwords[NATS_USER], nodes)
    await asyncio.to_thread(create_stream, admin_urls, 3)  # what `fieldcrew stream` does
    admin = await open_store(admin_urls, "admin")
    team = await open_store(urls("team", passwords["team"], nodes), "team")
    try:
        wo = uuid4()

        def kill_leader() -> None:
            leader = asyncio.run(leader_of(admin_urls))
            proc = next(n.proc for n in nodes if n.name == leader)
            assert proc is not None
            proc.popen.send_signal(signal.SIGKILL)
            proc.popen.wait()

        ids, seqs = await append_through_a_leader_loss(team, kill_leader, note(wo, "max"))
        stored = await admin.load(f"fieldcrew.team.{wo}.>")
        assert [UUID(r.envelope.id) for r in stored.records] == ids
        assert [r.seq for r in stored.records] == seqs
        info = await admin.js.stream_info(STREAM)
        assert info.config.num_replicas == 3 and info.cluster and info.cluster.leader
    finally:
        await team.nc.drain()
        await admin.nc.drain()


async def leader_of(admin_urls: str) -> str | None:
    nc = await connect(admin_urls, name="test-leader")
    try:
        info = await nc.jetstream().stream_info(STREAM)
    finally:
        await nc.drain()
    return info.cluster.leader if info.cluster else None


async def test_a_fresh_read_reaches_the_newest_event_the_leader_has(
    nats_cluster: LocalCluster,
) -> None:
    """Any replica answers a direct get, also one that has not applied the newest events yet;
    a ``fresh`` load reads on until it has the newest event of its subjects that the leader
    names (``STREAM.MSG.GET``, which only the leader answers and a service user may ask)."""
    store = await open_store(nats_cluster.service_urls["team"], "team")
    dispatch = await open_store(nats_cluster.service_urls["dispatch"], "dispatch")
    try:
        wo = uuid4()
        subject = f"fieldcrew.*.{wo}.>"
        assert await store.newest_on(subject) == 0
        seqs = [await acknowledged(dispatch, issued(wo), uuid4()) for _ in range(3)]
        assert await store.newest_on(subject) == seqs[-1]
        loaded = await store.load(subject, fresh=True)
        assert [r.seq for r in loaded.records] == seqs and loaded.version == seqs[-1]
        assert (await store.last(f"fieldcrew.dispatch.{uuid4()}.>")) is None  # asked, none
    finally:
        await store.nc.drain()
        await dispatch.nc.drain()
