"""Test session fixtures: real NATS JetStream, PostgreSQL and S3, started once per session.

Which servers: ``FIELDCREW_*_URL`` variables point at running ones; otherwise
``FIELDCREW_TEST_INFRA=containers`` starts the production images with testcontainers (needs a
Docker engine); otherwise the embedded servers from PyPI wheels start in a temporary folder on
free ports (the default, and what CI does).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fieldcrew_cli.servers import EmbeddedServers, Infra, Ports
from fieldcrew_cli.stack import create_stream
from fieldcrew_shared.auth import Role, ensure_keypair, mint

from tests.cluster import LocalCluster, local_cluster

ISSUER, AUDIENCE = "fieldcrew-local", "fieldcrew"
OUTPUT = Path(__file__).parent.parent / "test-output"


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where tests leave what a person looks at afterwards (screenshots, rendered PDF pages):
    ``test-output/`` in the repository, ignored by git."""
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    """The session's servers, with the event log's stream created by the NATS admin (as
    ``fieldcrew run`` does): ``infra.nats_urls`` holds each service's own, restricted user."""
    if os.environ.get("FIELDCREW_TEST_INFRA") == "containers":
        from tests.containers import container_infra

        with container_infra() as infra:
            create_stream(infra.nats_url)
            yield infra
        return
    # not under tmp_path: pytest resets /tmp/pytest-of-<user> to 0700 on every session, and
    # as root PostgreSQL runs as another user who must be able to enter the data folder
    with (
        tempfile.TemporaryDirectory(prefix="fieldcrew-test-") as folder,
        EmbeddedServers(Path(folder), ports=Ports.free()) as infra,
    ):
        create_stream(infra.nats_url)
        yield infra


@pytest.fixture(scope="session")
def nats_cluster() -> Iterator[LocalCluster]:
    """A 3-node NATS cluster with the stream on 3 replicas, its nodes supervised (killed ones
    come back): ``tests/cluster.py``. Started on first use, once per session."""
    with local_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return ensure_keypair(tmp_path_factory.mktemp("keys"))


TokenFactory = Callable[..., str]


@pytest.fixture(scope="session")
def token(keys: tuple[Path, Path]) -> TokenFactory:
    """``token("alice", "technician")`` → a signed bearer token."""
    private = keys[0].read_bytes()

    def make(sub: str, role: str | Role = Role.technician, **kwargs: object) -> str:
        return mint(private, sub=sub, role=Role(role), issuer=ISSUER, audience=AUDIENCE, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def service_env(infra: Infra, keys: tuple[Path, Path]) -> dict[str, str]:
    """The environment every service reads its settings from."""
    return {
        "FIELDCREW_NATS_URL": infra.nats_url,
        "FIELDCREW_DATABASE_URL": infra.database_url,
        "FIELDCREW_S3_ENDPOINT": infra.s3_endpoint,
        "FIELDCREW_S3_ACCESS_KEY": infra.s3_access_key,
        "FIELDCREW_S3_SECRET_KEY": infra.s3_secret_key,
        "FIELDCREW_S3_SECURE": "true" if infra.s3_secure else "false",
        "FIELDCREW_JWT_PUBLIC_KEY_FILE": str(keys[1]),
        "FIELDCREW_JWT_ISSUER": ISSUER,
        "FIELDCREW_JWT_AUDIENCE": AUDIENCE,
        "FIELDCREW_WEBHOOK_KEY": "test webhook key " + "0" * 32,
    }


@pytest.fixture(scope="session")
def settings_env(service_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """Set the service environment for in-process apps built with ``Settings()``."""
    saved = {k: os.environ.get(k) for k in service_env}
    os.environ.update(service_env)
    yield service_env
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@asynccontextmanager
async def app_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to ``app`` in-process, with its lifespan run."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fault scenarios, the longest tests, first: ``make test`` runs files in two
    processes (pytest-xdist, ``--dist loadfile``), and longest-first keeps one process from
    being left alone with a long scenario at the end (docs/adr/0068-tests-in-two-processes.md)."""
    items.sort(key=lambda item: not item.nodeid.startswith("tests/faults/test_scenario_"))
