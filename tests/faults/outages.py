"""What an outage of PostgreSQL or S3 must look like to clients, and what it must not leave
behind: quick, honest answers while it lasts; no event naming a photo that is not stored."""

from __future__ import annotations

import asyncio

from fieldcrew_shared.events import PhotoRenditionsMade
from fieldcrew_shared.eventstore import EventStore, connect
from fieldcrew_shared.photo_objects import object_key
from minio import Minio
from minio.error import S3Error

from tests.faults.faults import Outage, Prober
from tests.faults.ledger import Ledger
from tests.faults.logindex import read_log
from tests.faults.system import System

# What each backend's outage may refuse: reads need PostgreSQL, uploads need S3.
NEEDS = {"postgres": {"read"}, "s3": {"photo"}}


def outage_problems(ledger: Ledger, outage: Outage, prober: Prober, within: float) -> list[str]:
    """Reads and commands answered while ``outage`` lasted: what needs the stopped server
    answers 503 with ``Retry-After`` (or 2xx) within ``within`` seconds; everything else
    answers 2xx as if nothing happened."""
    refused = NEEDS[outage.name]
    answers = [a for _, a in prober.answers] + ledger.answers
    during = [a for a in answers if outage.during(a.at)]
    problems: list[str] = []
    if not any(a.status == 503 for a in during if a.kind in refused):
        problems.append(f"no 503 seen while {outage.name} was down: was it?")
    for a in during:
        if a.kind in refused:
            if a.status not in (200, 201, 503):
                problems.append(f"{a.kind} answered {a.status or a.error} during the outage")
            elif a.status == 503 and not a.retry_after:
                problems.append(f"{a.kind} answered 503 without Retry-After")
            if a.seconds > within:
                problems.append(f"{a.kind} took {a.seconds:.1f} s to answer (> {within} s)")
        elif not 200 <= a.status < 300:
            problems.append(f"{a.kind} answered {a.status or a.error} while only "
                            f"{outage.name} was down")  # fmt: skip
    if not any(outage.during(a.acked) for a in ledger.acks if a.kind not in refused):
        problems.append(f"no command was acknowledged while {outage.name} was down")
    return problems[:20]


async def objects_missing(system: System, ledger: Ledger) -> list[str]:
    """Every object the log names is stored after an S3 outage: the original of every photo
    uploaded, the served copy and thumbnail of every photo whose copies were recorded made
    (the checker waited for each photo's outcome). Nothing half-visible."""
    nc = await connect(system.nats_admin_url, name="chaos-objects")
    try:
        index = await read_log(EventStore(nc, source="chaos"))
    finally:
        await nc.drain()
    named = {object_key(sha): "PhotoUploaded" for _, sha, _ in index.photos}
    for outcomes in index.copies.values():
        for made in outcomes:
            if isinstance(made, PhotoRenditionsMade):
                named[made.served_key] = named[made.thumbnail_key] = "PhotoRenditionsMade"
    missing = await asyncio.to_thread(_missing, system, sorted(named))
    return [f"a {named[key]} names {key}, which S3 does not hold" for key in missing[:20]]


def _missing(system: System, keys: list[str]) -> list[str]:
    assert system.infra is not None
    infra = system.infra
    client = Minio(infra.s3_endpoint, infra.s3_access_key, infra.s3_secret_key,
                   secure=infra.s3_secure)  # fmt: skip
    out = []
    for key in keys:
        try:
            client.stat_object("fieldcrew-photos", key)
        except S3Error:
            out.append(key)
    return out
