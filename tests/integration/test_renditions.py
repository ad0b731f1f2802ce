"""Photo renditions made after the upload, on servers of this module's own (NATS, S3): here
only the photos processes this module starts consume ``PhotoUploaded``, so what the worker
did and did not do can be checked. The photos apps run as the photos NATS user, with the
permissions of the deploy files (their own durable consumer, nothing more)."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fieldcrew_photos.config import Settings
from fieldcrew_photos.consumer import DURABLE, RenditionMaker
from fieldcrew_photos.copier import Copier
from fieldcrew_photos.main import create_app
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.events import PhotoRenditionFailed, PhotoRenditionsMade, PhotoUploaded
from fieldcrew_shared.eventstore import STREAM, EventStore, connect
from fieldcrew_shared.natsclient import inbox_prefix
from fieldcrew_shared.photo_objects import object_key, served_key, thumbnail_key
from minio import Minio
from minio.error import S3Error
from nats.aio.client import Client as NATS
from PIL import ExifTags, Image

from tests.conftest import AUDIENCE, ISSUER, TokenFactory, app_client, bearer
from tests.images import jpeg, picture, png
from tests.renditions import outcomes, rendition_outcome
from tests.servers import OwnServers
from tests.unit.factories import issued

BUCKET = "fieldcrew-photos"
CREW = ("lead", "m1", "m2")
ATTEMPTS = 3


@pytest.fixture(scope="module")
def own() -> Iterator[OwnServers]:
    with OwnServers(s3=True) as servers:
        yield servers


@pytest.fixture(scope="module")
async def admin(own: OwnServers) -> AsyncIterator[NATS]:
    nc = await connect(own.infra.nats_url, name="renditions-admin")
    yield nc
    await nc.drain()


@pytest.fixture(scope="module")
def log(admin: NATS) -> EventStore:
    return EventStore(admin, source="tests")


@pytest.fixture(scope="module")
def s3(own: OwnServers) -> Minio:
    """The module's object store, its bucket made (the photos service's first start writes
    to it once, so that a fresh SeaweedFS lays out its volumes then: docs/adr/0070)."""
    infra = own.infra
    client = Minio(infra.s3_endpoint, infra.s3_access_key, infra.s3_secret_key,
                   secure=infra.s3_secure, region="us-east-1")  # fmt: skip
    client.make_bucket(BUCKET)
    return client


def settings(own: OwnServers, keys: tuple[Path, Path], lanes: int) -> Settings:
    infra = own.infra
    return Settings(
        nats_url=infra.nats_urls["photos"], s3_endpoint=infra.s3_endpoint,
        s3_access_key=infra.s3_access_key, s3_secret_key=infra.s3_secret_key,  # type: ignore[arg-type]
        jwt_public_key_file=keys[1], jwt_issuer=ISSUER, jwt_audience=AUDIENCE,
        rendition_lanes=lanes, rendition_attempts=ATTEMPTS, rendition_retry_seconds=0.2,
    )  # fmt: skip


@pytest.fixture(scope="module")
async def uploads(
    own: OwnServers, keys: tuple[Path, Path], s3: Minio
) -> AsyncIterator[httpx.AsyncClient]:
    """A photos process that takes uploads and makes no renditions."""
    async with app_client(create_app(settings(own, keys, lanes=0))) as client:
        yield client


@asynccontextmanager
async def worker(own: OwnServers, keys: tuple[Path, Path]) -> AsyncIterator[httpx.AsyncClient]:
    """A photos process whose rendition worker runs while the context is open."""
    async with app_client(create_app(settings(own, keys, lanes=1))) as client:
        yield client


async def work_order(admin: NATS) -> UUID:
    wo = uuid4()
    meta = Metadata(actor="disp", actorrole="dispatcher", correlationid=str(wo))
    dispatch = EventStore(admin, source="fieldcrew/dispatch")
    await dispatch.append(issued(wo, CREW[0], CREW[1:]), meta)
    return wo


async def upload(
    client: httpx.AsyncClient, token: TokenFactory, wo: UUID, data: bytes, who: str = "m1"
) -> dict[str, Any]:
    answer = await client.post(
        f"/work-orders/{wo}/photos",
        files={"file": ("p.jpg", data, "image/jpeg")},
        headers=bearer(token(who)),
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def stored(s3: Minio, key: str) -> bytes | None:
    def read() -> bytes | None:
        try:
            response = s3.get_object(BUCKET, key)
        except S3Error as exc:
            assert exc.code == "NoSuchKey"
            return None
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    return await asyncio.to_thread(read)


def rotated_jpeg_with_gps() -> bytes:
    """A 600x400 JPEG shot in portrait (EXIF orientation 6), with a GPS position."""
    tags = Image.Exif()
    tags[ExifTags.Base.Orientation] = 6
    gps = tags.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", (48.0, 8.0, 13.74)
    gps[ExifTags.GPS.GPSLongitudeRef], gps[ExifTags.GPS.GPSLongitude] = "E", (11.0, 34.0, 30.0)
    buffer = io.BytesIO()
    picture(7, (600, 400)).save(buffer, "JPEG", exif=tags.tobytes(), quality=90)
    return buffer.getvalue()


async def test_the_upload_answers_before_the_copies_exist_and_the_worker_makes_them_once(
    own: OwnServers,
    keys: tuple[Path, Path],
    admin: NATS,
    log: EventStore,
    s3: Minio,
    uploads: httpx.AsyncClient,
    token: TokenFactory,
) -> None:
    wo = await work_order(admin)
    data = rotated_jpeg_with_gps()
    photo = await upload(uploads, token, wo, data)
    sha = photo["sha256"]
    # no rendition worker runs on these servers yet: the answer cannot have waited for one
    assert (photo["rendition"], photo["url"], photo["thumbnail_url"]) == ("pending", None, None)
    assert await stored(s3, object_key(sha)) == data
    assert await stored(s3, served_key(sha)) is None
    assert await stored(s3, thumbnail_key(sha)) is None
    assert await outcomes(log, wo) == []
    listed = await uploads.get(f"/work-orders/{wo}/photos", headers=bearer(token(CREW[0])))
    assert [p["rendition"] for p in listed.json()] == ["pending"]

    async with worker(own, keys):
        made = await rendition_outcome(log, wo, UUID(photo["id"]))
    assert isinstance(made, PhotoRenditionsMade)
    assert (made.sha256, made.served_key, made.thumbnail_key) == (
        sha, served_key(sha), thumbnail_key(sha)
    )  # fmt: skip
    assert (made.served_width, made.served_height) == (400, 600)  # turned upright
    assert (made.thumbnail_width, made.thumbnail_height) == (213, 320)
    for key, size in ((made.served_key, (400, 600)), (made.thumbnail_key, (213, 320))):
        copy = await stored(s3, key)
        assert copy is not None
        with Image.open(io.BytesIO(copy)) as image:
            assert (image.format, image.size) == ("JPEG", size)
            assert not image.getexif() and "exif" not in image.info  # no GPS, no orientation
    assert await outcomes(log, wo) == [made]
    [listed] = (await uploads.get(f"/work-orders/{wo}/photos", headers=bearer(token("m2")))).json()
    assert listed["rendition"] == "ready"
    async with httpx.AsyncClient() as plain:
        thumbnail = await plain.get(listed["thumbnail_url"])
    assert thumbnail.content == await stored(s3, thumbnail_key(sha))


async def test_redelivery_makes_nothing_twice(
    own: OwnServers,
    keys: tuple[Path, Path],
    admin: NATS,
    log: EventStore,
    s3: Minio,
    uploads: httpx.AsyncClient,
    token: TokenFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wo = await work_order(admin)
    photos = [await upload(uploads, token, wo, jpeg(seed), who) for seed, who in enumerate(CREW)]
    async with worker(own, keys) as running:
        for p in photos:
            await rendition_outcome(log, wo, UUID(p["id"]))
        first = photos[0]["sha256"]
        await asyncio.to_thread(s3.remove_object, BUCKET, thumbnail_key(first))
        # the consumer lost under the running worker: it fails, is started again and makes
        # the consumer again from the start of the log, so every upload is delivered again
        await admin.jetstream().delete_consumer(STREAM, DURABLE)
        late = await upload(uploads, token, wo, jpeg(10), "lead")
        await rendition_outcome(log, wo, UUID(late["id"]))
        last = (await log.load(f"fieldcrew.photos.{wo}.PhotoUploaded")).version
        await all_delivered_and_done(admin, last)
        assert (await running.get("/readyz")).status_code == 200
    assert len(await outcomes(log, wo)) == len(CREW) + 1  # one each, still
    assert await stored(s3, thumbnail_key(first)) is None  # not made again behind our back
    restarts = [r for r in caplog.records if r.getMessage() == "background task failed; restarting"]
    assert [r.task for r in restarts] == ["renditions"]  # type: ignore[attr-defined]


async def all_delivered_and_done(admin: NATS, seq: int) -> None:
    """Wait until the worker's consumer has delivered past ``seq`` and has nothing pending."""
    js = admin.jetstream()
    async with asyncio.timeout(30):
        while True:
            info = await js.consumer_info(STREAM, DURABLE)
            done = not info.num_pending and not info.num_ack_pending
            if info.delivered.stream_seq >= seq and done:
                return
            await asyncio.sleep(0.05)


async def test_the_same_upload_made_twice_at_once_is_recorded_once(
    own: OwnServers,
    keys: tuple[Path, Path],
    admin: NATS,
    log: EventStore,
    uploads: httpx.AsyncClient,
    token: TokenFactory,
) -> None:
    wo = await work_order(admin)
    photo = await upload(uploads, token, wo, png(3))
    record = (await log.load(f"fieldcrew.photos.{wo}.PhotoUploaded")).records[0]
    nc = await connect(
        own.infra.nats_urls["photos"], name="renditions-twice", inbox_prefix=inbox_prefix("photos")
    )
    try:
        store = EventStore(nc, source="fieldcrew/photos")
        copier = Copier(settings(own, keys, lanes=3))
        maker = RenditionMaker(store, uploads_storage(uploads), copier)
        done = await asyncio.gather(maker.make(record), maker.make(record), maker.make(record))
    finally:
        copier.close()
        await nc.drain()
    assert sum(done) >= 1
    recorded = await outcomes(log, wo)
    assert len(recorded) == 1 and recorded[0].photo_id == UUID(photo["id"])  # type: ignore[attr-defined]


def uploads_storage(client: httpx.AsyncClient) -> Any:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return transport.app.state.storage  # type: ignore[attr-defined]


async def test_an_undecodable_image_is_dead_lettered_and_the_next_photo_renders(
    own: OwnServers,
    keys: tuple[Path, Path],
    admin: NATS,
    log: EventStore,
    s3: Minio,
    uploads: httpx.AsyncClient,
    token: TokenFactory,
) -> None:
    wo = await work_order(admin)
    garbage = b"not an image at all " + uuid4().bytes
    sha = hashlib.sha256(garbage).hexdigest()
    await asyncio.to_thread(
        s3.put_object, BUCKET, object_key(sha), io.BytesIO(garbage), len(garbage)
    )
    poison = PhotoUploaded(
        work_order_id=wo, photo_id=uuid4(), sha256=sha, object_key=object_key(sha),
        content_type="image/jpeg", size=len(garbage), width=64, height=48, uploader="m2",
        uploader_role="member",
    )  # fmt: skip
    meta = Metadata(actor="m2", actorrole="technician", correlationid="poison")
    await EventStore(admin, source="fieldcrew/photos").append(poison, meta)
    # and an event no one can read, on the same subjects
    await admin.jetstream().publish(f"fieldcrew.photos.{wo}.PhotoUploaded", b"{not json")
    async with worker(own, keys) as photos:
        good = await upload(uploads, token, wo, jpeg(99))
        failed = await rendition_outcome(log, wo, poison.photo_id)
        made = await rendition_outcome(log, wo, UUID(good["id"]))
        ready = (await photos.get("/readyz")).json()
    assert isinstance(failed, PhotoRenditionFailed)
    assert failed.attempts == ATTEMPTS and failed.reason.startswith("UnidentifiedImageError")
    assert isinstance(made, PhotoRenditionsMade)
    assert await stored(s3, thumbnail_key(sha)) is None
    assert ready["checks"]["renditions"]["ok"] and ready["checks"]["renditions_lag"]["ok"]


async def test_a_missing_original_is_dead_lettered_with_its_reason(
    own: OwnServers, keys: tuple[Path, Path], admin: NATS, log: EventStore
) -> None:
    wo = await work_order(admin)
    sha = hashlib.sha256(uuid4().bytes).hexdigest()
    lost = PhotoUploaded(
        work_order_id=wo, photo_id=uuid4(), sha256=sha, object_key=object_key(sha),
        content_type="image/jpeg", size=10, width=64, height=48, uploader="m1",
        uploader_role="member",
    )  # fmt: skip
    meta = Metadata(actor="m1", actorrole="technician", correlationid="lost")
    await EventStore(admin, source="fieldcrew/photos").append(lost, meta)
    async with worker(own, keys):
        failed = await rendition_outcome(log, wo, lost.photo_id)
    assert isinstance(failed, PhotoRenditionFailed)
    assert failed.reason.startswith("MissingObjectError") and failed.attempts == ATTEMPTS
