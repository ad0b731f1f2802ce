"""The photo bucket against the session's real S3 server: private, credentials required, and
the only doors clients get are presigned GETs of one served copy that expire within 5 minutes."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from uuid import uuid4

import httpx
import pytest
from fieldcrew_photos.config import Settings
from fieldcrew_photos.storage import (
    WRITE_CHECK_BODY,
    WRITE_CHECK_KEY,
    BucketExposedError,
    PhotoStorage,
    http_pool,
)
from fieldcrew_shared.eventstore import EventStore
from minio import Minio
from minio.error import S3Error
from PIL import ExifTags, Image
from pydantic import ValidationError

from tests.conftest import TokenFactory
from tests.images import jpeg, picture
from tests.integration.test_photos_api import (  # noqa: F401  (fixtures, used by name)
    BUCKET,
    Crewed,
    dispatch_client,
    event_store,
    is_stored,
    made,
    original_key,
    photos_client,
    s3_admin,
    served_key,
    stored_bytes,
    upload,
    uploads_of,
    work_order,
)


@pytest.fixture
async def stored(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, wo: Crewed
) -> dict[str, str]:
    """A photo uploaded through the service, as the API describes it once its copies are
    made."""
    response = await upload(photos, token, wo.id, wo.members[0], jpeg(wo.id.int % 1_000_000))
    assert response.status_code == 201, response.text
    return await made(photos, token, store, wo, response.json())


def endpoint(settings_env: dict[str, str]) -> str:
    scheme = "https" if settings_env["FIELDCREW_S3_SECURE"] == "true" else "http"
    return f"{scheme}://{settings_env['FIELDCREW_S3_ENDPOINT']}"


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_anonymous_requests_to_the_bucket_are_refused(
    stored: dict[str, str], settings_env: dict[str, str], s3: Minio
) -> None:
    base, sha = f"{endpoint(settings_env)}/{BUCKET}", stored["sha256"]
    async with httpx.AsyncClient() as plain:
        answers = {
            "read original": await plain.get(f"{base}/{original_key(sha)}"),
            "read served": await plain.get(f"{base}/{served_key(sha)}"),
            "head served": await plain.head(f"{base}/{served_key(sha)}"),
            "list": await plain.get(f"{base}?list-type=2"),
            "write": await plain.put(f"{base}/served/planted.jpg", content=jpeg(302)),
            "overwrite": await plain.put(f"{base}/{served_key(sha)}", content=b"<html>"),
            "delete": await plain.delete(f"{base}/{original_key(sha)}"),
        }
    assert {what: a.status_code for what, a in answers.items()} == dict.fromkeys(answers, 403)
    assert not await is_stored(s3, sha, "served/planted.jpg")
    assert await is_stored(s3, sha) and await is_stored(s3, sha, served_key(sha))
    served = await stored_bytes(s3, sha, served_key(sha))
    assert served.startswith(b"\xff\xd8") and b"<html>" not in served


async def test_a_photo_url_is_a_presigned_get_of_its_served_copy_for_at_most_5_minutes(
    stored: dict[str, str],
) -> None:
    url = urlsplit(stored["url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path == f"/{BUCKET}/{served_key(stored['sha256'])}"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-SignedHeaders"] == "host"
    assert 0 < int(query["X-Amz-Expires"]) <= 300
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - signed_at) < timedelta(minutes=5)
    async with httpx.AsyncClient() as plain:
        assert (await plain.get(stored["url"])).status_code == 200


async def test_a_url_for_one_photo_opens_no_other_object_and_writes_nothing(
    photos: httpx.AsyncClient,
    token: TokenFactory,
    store: EventStore,
    wo: Crewed,
    s3: Minio,
) -> None:
    first = (await upload(photos, token, wo.id, wo.leader, jpeg(303))).json()
    second = (await upload(photos, token, wo.id, wo.leader, jpeg(304))).json()
    first = await made(photos, token, store, wo, first)
    await made(photos, token, store, wo, second)
    url, other = first["url"], second["sha256"]
    elsewhere = [
        url.replace(served_key(first["sha256"]), served_key(other)),
        url.replace(served_key(first["sha256"]), original_key(first["sha256"])),
        url.replace(f"/{served_key(first['sha256'])}", ""),  # the bucket listing
        with_query(url, **{"X-Amz-Expires": "604800"}),
    ]
    async with httpx.AsyncClient() as plain:
        refused = [(await plain.get(u)).status_code for u in elsewhere]
        put = await plain.put(url, content=b"<script>alert(1)</script>")
        delete = await plain.delete(url)
        still = await plain.get(url)
    assert refused == [403, 403, 403, 403]
    assert (put.status_code, delete.status_code) == (403, 403)
    assert still.status_code == 200 and still.content.startswith(b"\xff\xd8")
    assert still.content == await stored_bytes(s3, first["sha256"], served_key(first["sha256"]))


async def test_an_expired_url_is_refused_by_the_store(
    stored: dict[str, str],
    s3: Minio,
) -> None:
    ten_minutes_ago = datetime.now(UTC) - timedelta(minutes=10)
    expired = s3.presigned_get_object(
        BUCKET,
        served_key(stored["sha256"]),
        expires=timedelta(minutes=5),
        request_date=ten_minutes_ago,
    )
    async with httpx.AsyncClient() as plain:
        answer = await plain.get(expired)
    assert answer.status_code == 403


async def test_object_storage_requires_the_right_credentials(
    stored: dict[str, str], settings_env: dict[str, str]
) -> None:
    wrong = Minio(
        settings_env["FIELDCREW_S3_ENDPOINT"],
        access_key=settings_env["FIELDCREW_S3_ACCESS_KEY"],
        secret_key=f"not-{settings_env['FIELDCREW_S3_SECRET_KEY']}",
        secure=settings_env["FIELDCREW_S3_SECURE"] == "true",
        region="us-east-1",
    )
    with pytest.raises(S3Error) as caught:
        await asyncio.to_thread(wrong.stat_object, BUCKET, served_key(stored["sha256"]))
    assert caught.value.code in {"AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId"}


@pytest.mark.parametrize("missing", ["FIELDCREW_S3_ACCESS_KEY", "FIELDCREW_S3_SECRET_KEY"])
def test_the_service_does_not_start_without_s3_credentials(
    settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delenv(missing)
    with pytest.raises(ValidationError, match=missing.removeprefix("FIELDCREW_").lower()):
        Settings()  # type: ignore[call-arg]


def test_photo_urls_cannot_be_configured_to_live_longer_than_5_minutes(
    settings_env: dict[str, str],
) -> None:
    assert Settings(url_ttl_seconds=300).url_ttl_seconds == 300  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="url_ttl_seconds"):
        Settings(url_ttl_seconds=301)  # type: ignore[call-arg]


@pytest.fixture
def public_bucket(s3: Minio) -> Iterator[str]:
    """A fresh bucket; the test makes part of it public, and it is removed afterwards."""
    name = f"exposed-{uuid4().hex[:12]}"
    s3.make_bucket(name)
    yield name
    s3.delete_bucket_policy(name)
    for item in s3.list_objects(name, recursive=True):
        s3.remove_object(name, str(item.object_name))
    s3.remove_bucket(name)


@pytest.mark.parametrize("resource", ["*", "served/*", "sha256/*"])
async def test_the_service_refuses_to_run_on_a_bucket_that_anyone_can_read(
    settings_env: dict[str, str],
    s3: Minio,
    public_bucket: str,
    resource: str,
) -> None:
    settings = Settings(bucket=public_bucket)  # type: ignore[call-arg]
    storage = PhotoStorage.from_settings(settings, http_pool(settings.backend_timeout))
    try:
        await storage.ensure_bucket()  # private: fine
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ["*"]},
                    "Action": ["s3:GetObject"],
                    "Resource": [f"arn:aws:s3:::{public_bucket}/{resource}"],
                }
            ],
        }
        s3.set_bucket_policy(public_bucket, json.dumps(policy))
        with pytest.raises(BucketExposedError, match="anonymous"):
            await storage.ensure_bucket()
    finally:
        storage.close()


async def test_the_served_copy_has_no_exif_while_the_event_keeps_time_and_place(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, s3: Minio, wo: Crewed
) -> None:
    taken = datetime(2026, 3, 4, 5, 6, 7)
    data = jpeg(112, size=(80, 60), exif_time=taken, gps=(48.2082, 16.3738))
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # it has GPS
    body = (await upload(photos, token, wo.id, wo.members[0], data)).json()
    body = await made(photos, token, store, wo, body)
    async with httpx.AsyncClient() as plain:
        served = (await plain.get(body["url"])).content
    assert served == await stored_bytes(s3, body["sha256"], served_key(body["sha256"]))
    with Image.open(io.BytesIO(served)) as image:
        image.load()
        assert image.size == (80, 60)
        assert dict(image.getexif()) == {}
        assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert not {"exif", "icc_profile", "xmp", "comment"} & set(image.info)
    assert b"Exif\x00\x00" not in served and b"Exif\x00\x00" in data
    [event] = await uploads_of(store, wo.id)
    assert event.captured_at == taken.replace(tzinfo=UTC)
    assert event.location is not None
    assert (event.location.lat, event.location.lon) == (
        pytest.approx(48.2082, abs=1e-6),
        pytest.approx(16.3738, abs=1e-6),
    )


async def test_the_served_copy_is_upright_and_opaque(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, s3: Minio, wo: Crewed
) -> None:
    tags = Image.Exif()
    tags[ExifTags.Base.Orientation] = 6  # shown rotated 90° clockwise
    rotated = io.BytesIO()
    picture(113, (64, 48)).save(rotated, "JPEG", exif=tags.tobytes())
    transparent = io.BytesIO()
    picture(114, (40, 30)).convert("RGBA").save(transparent, "PNG")
    for data, size in [(rotated.getvalue(), (48, 64)), (transparent.getvalue(), (40, 30))]:
        body = (await upload(photos, token, wo.id, wo.leader, data)).json()
        assert (body["width"], body["height"]) == size
        await made(photos, token, store, wo, body)
        served = await stored_bytes(s3, body["sha256"], served_key(body["sha256"]))
        with Image.open(io.BytesIO(served)) as image:
            assert (image.size, image.mode) == (size, "RGB")


async def test_the_service_writes_to_its_bucket_once_at_start(
    settings_env: dict[str, str], s3: Minio
) -> None:
    settings = Settings(bucket=f"fresh-{uuid4().hex[:12]}")  # type: ignore[call-arg]
    storage = PhotoStorage.from_settings(settings, http_pool(settings.backend_timeout))
    try:
        await storage.ensure_bucket()
    finally:
        storage.close()
    stat = await asyncio.to_thread(s3.stat_object, settings.bucket, WRITE_CHECK_KEY)
    s3.remove_object(settings.bucket, WRITE_CHECK_KEY)
    s3.remove_bucket(settings.bucket)
    assert stat.size == len(WRITE_CHECK_BODY)
