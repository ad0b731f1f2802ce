"""``FIELDCREW_TEST_INFRA=containers``: the production images (NATS 2.11+ with JetStream,
PostgreSQL 16, MinIO) started with testcontainers. Needs a Docker engine; the default test
session uses the embedded servers instead (tests/conftest.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from fieldcrew_cli.servers import Infra
from testcontainers.community.minio import MinioContainer
from testcontainers.community.nats import NatsContainer
from testcontainers.community.postgres import PostgresContainer


@contextmanager
def container_infra() -> Iterator[Infra]:
    secret = secrets.token_urlsafe(24)
    with ExitStack() as stack:
        nats = stack.enter_context(NatsContainer("nats:2.11", jetstream=True))
        pg = stack.enter_context(PostgresContainer("postgres:16", dbname="fieldcrew", driver=None))
        minio = stack.enter_context(MinioContainer(access_key="fieldcrew", secret_key=secret))
        config = minio.get_config()
        yield Infra(
            nats_url=nats.nats_uri(),
            database_url=pg.get_connection_url(driver=None),
            s3_endpoint=config["endpoint"],
            s3_access_key="fieldcrew",
            s3_secret_key=secret,
        )
