"""The hostile corpus (tests/hostile/) and hostile request bodies against the real photos
service, in-process over the session's real NATS JetStream and S3: every refused file gets its
413/415/422 and leaves no object in the bucket and no event in the log."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit
from uuid import uuid4

import httpx
import pytest
from fieldcrew_photos.api import FORM_OVERHEAD
from fieldcrew_photos.config import Settings
from fieldcrew_photos.main import create_app
from fieldcrew_shared.eventstore import EventStore
from minio import Minio

from tests.conftest import TokenFactory, app_client, bearer
from tests.hostile import FILES, HERE, Sample, corpus
from tests.images import jpeg, png
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
    stores_nothing_for,
    upload,
    uploads_of,
    work_order,
)

REFUSED = [s for s in corpus() if s.refused]
ACCEPTED = [s for s in corpus() if not s.refused]


async def bucket_keys(s3: Minio) -> set[str]:
    """Every key in the bucket but the renditions: the session's rendition workers write those
    for other tests' uploads at any moment (never without a ``PhotoUploaded``, which a refused
    file does not get, and never under a key of their own choosing)."""

    def keys() -> set[str]:
        names = (str(o.object_name) for o in s3.list_objects(BUCKET, recursive=True))
        return {n for n in names if not n.startswith(("served/", "thumbnails/"))}

    return await asyncio.to_thread(keys)


async def send(
    photos: httpx.AsyncClient, token: TokenFactory, wo: Crewed, sample: Sample
) -> httpx.Response:
    return await photos.post(
        f"/work-orders/{wo.id}/photos",
        files={"file": (sample.upload_name, sample.data, sample.declared_type)},
        data={"caption": "from the hostile corpus"},
        headers=bearer(token(wo.members[0])),
    )


def test_the_corpus_is_complete_and_described() -> None:
    files = {p.name for p in FILES.iterdir()}
    assert files == {s.file for s in corpus()}
    assert len(REFUSED) >= 20
    readme = (HERE / "README.md").read_text()
    assert all(f"`{s.file}`" in readme for s in corpus())


@pytest.mark.parametrize("sample", REFUSED, ids=lambda s: s.file)
async def test_a_hostile_file_is_refused_and_nothing_is_stored(
    photos: httpx.AsyncClient,
    token: TokenFactory,
    store: EventStore,
    s3: Minio,
    wo: Crewed,
    sample: Sample,
) -> None:
    sha = hashlib.sha256(sample.data).hexdigest()
    before = await bucket_keys(s3)
    response = await send(photos, token, wo, sample)
    assert (response.status_code, response.json()["error"]["code"]) == (sample.status, sample.code)
    assert await uploads_of(store, wo.id) == []
    assert await stores_nothing_for(s3, sha)
    assert await bucket_keys(s3) == before


@pytest.mark.parametrize("sample", ACCEPTED, ids=lambda s: s.file)
async def test_a_clean_image_under_a_hostile_name_is_stored_by_its_digest_only(
    photos: httpx.AsyncClient,
    token: TokenFactory,
    store: EventStore,
    s3: Minio,
    wo: Crewed,
    sample: Sample,
) -> None:
    sha = hashlib.sha256(sample.data).hexdigest()
    response = await send(photos, token, wo, sample)
    assert response.status_code == sample.status, response.text
    assert response.json()["content_type"] in {"image/jpeg", "image/png"}
    [event] = await uploads_of(store, wo.id)
    assert event.object_key == original_key(sha)
    body = await made(photos, token, store, wo, response.json())
    assert await is_stored(s3, sha) and await is_stored(s3, sha, served_key(sha))
    assert urlsplit(body["thumbnail_url"]).path.endswith(f"/thumbnails/{sha}.jpg")
    name_parts = {part for part in sample.upload_name.split("/") if part not in ("", "..")}
    recorded = event.model_dump_json() + response.text
    assert not [part for part in name_parts if part in recorded]
    assert not [key for key in await bucket_keys(s3) if ".." in key or "cron.d" in key]


async def test_the_form_allows_one_file_a_caption_and_a_phase_only(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, wo: Crewed
) -> None:
    path, auth = f"/work-orders/{wo.id}/photos", bearer(token(wo.leader))
    photo = ("p.jpg", jpeg(116), "image/jpeg")
    extra = await photos.post(path, files={"file": photo}, data={"uploader": "x"}, headers=auth)
    two = await photos.post(path, files=[("file", photo), ("file", photo)], headers=auth)
    none = await photos.post(path, files={"caption": (None, "no file")}, headers=auth)
    not_form = await photos.post(path, content=jpeg(116), headers=auth)
    assert [r.status_code for r in (extra, two, none, not_form)] == [422, 422, 422, 415]
    assert extra.json()["error"]["details"][0]["loc"] == ["body", "uploader"]
    assert none.json()["error"]["details"][0]["loc"] == ["body", "file"]
    assert await uploads_of(store, wo.id) == []


async def test_a_stranger_is_refused_and_their_bytes_are_not_stored(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, s3: Minio, wo: Crewed
) -> None:
    data = jpeg(117, size=(300, 200))
    response = await upload(photos, token, wo.id, f"tech-{uuid4()}", data)
    assert response.status_code == 403
    assert await stores_nothing_for(s3, hashlib.sha256(data).hexdigest())
    assert await uploads_of(store, wo.id) == []


async def test_the_type_comes_from_the_bytes_not_the_name_or_declared_type(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, wo: Crewed
) -> None:
    data = png(115)
    response = await photos.post(
        f"/work-orders/{wo.id}/photos",
        files={"file": ("holiday.gif", data, "text/html")},
        headers=bearer(token(wo.members[0])),
    )
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "image/png"
    [event] = await uploads_of(store, wo.id)
    sha = hashlib.sha256(data).hexdigest()
    assert (event.content_type, event.object_key) == ("image/png", original_key(sha))
    assert "holiday" not in event.model_dump_json()


# Hostile bodies: sizes that lie or are not given at all. The counting generator shows how much
# of the body the service pulled before it answered.

LIMIT = 256 * 1024
CHUNK = 16 * 1024
BOUNDARY = "hostile-boundary-7d2c"


@pytest.fixture(scope="module")
async def small_photos(settings_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """The photos service with a 256 KiB upload limit."""
    async with app_client(create_app(Settings(max_upload_bytes=LIMIT))) as client:  # type: ignore[call-arg]
        yield client


@dataclass
class EndlessUpload:
    """A multipart upload whose file part never ends (up to ``total`` bytes), counting what
    the receiver pulled."""

    total: int
    pulled: int = 0

    async def body(self) -> AsyncIterator[bytes]:
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        ).encode()
        self.pulled += len(head)
        yield head
        while self.pulled < self.total:
            self.pulled += CHUNK
            yield b"\xff" * CHUNK

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


async def post_stream(
    photos: httpx.AsyncClient, wo: Crewed, auth: dict[str, str], upload: EndlessUpload, **hdr: str
) -> httpx.Response:
    return await photos.post(
        f"/work-orders/{wo.id}/photos", content=upload.body(), headers=upload.headers | auth | hdr
    )


async def test_an_upload_without_content_length_is_cut_off_at_the_limit(
    small_photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, wo: Crewed
) -> None:
    upload = EndlessUpload(total=100 * LIMIT)
    response = await post_stream(small_photos, wo, bearer(token(wo.leader)), upload)
    assert (response.status_code, response.json()["error"]["code"]) == (413, "too_large")
    assert "content-length" not in response.request.headers  # sent chunked
    assert upload.pulled <= LIMIT + FORM_OVERHEAD  # of 25 MiB offered
    assert await uploads_of(store, wo.id) == []


async def test_an_upload_whose_content_length_lies_is_cut_off_at_the_limit(
    small_photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, wo: Crewed
) -> None:
    upload = EndlessUpload(total=100 * LIMIT)
    auth = bearer(token(wo.members[1]))
    response = await post_stream(small_photos, wo, auth, upload, **{"Content-Length": "2048"})
    assert response.request.headers["content-length"] == "2048"
    assert (response.status_code, response.json()["error"]["code"]) == (413, "too_large")
    assert upload.pulled <= LIMIT + FORM_OVERHEAD
    assert await uploads_of(store, wo.id) == []


async def test_a_declared_oversized_upload_is_refused_before_any_byte_is_read(
    small_photos: httpx.AsyncClient, token: TokenFactory, wo: Crewed
) -> None:
    upload = EndlessUpload(total=100 * LIMIT)
    auth = bearer(token(wo.members[1]))
    declared = str(100 * LIMIT)
    response = await post_stream(small_photos, wo, auth, upload, **{"Content-Length": declared})
    assert (response.status_code, response.json()["error"]["code"]) == (413, "too_large")
    assert upload.pulled == 0


async def test_a_streamed_photo_within_the_limit_is_accepted(
    small_photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, wo: Crewed
) -> None:
    data = jpeg(401, size=(400, 300))
    assert len(data) <= LIMIT
    form = httpx.Request(
        "POST", "http://x", files={"file": ("p.jpg", data, "image/jpeg")}, data={"phase": "after"}
    )
    response = await small_photos.post(
        f"/work-orders/{wo.id}/photos",
        content=chunks(form.read(), 1000),
        headers={"Content-Type": form.headers["content-type"]} | bearer(token(wo.leader)),
    )
    assert response.status_code == 201, response.text
    assert response.json()["phase"] == "after"
    assert len(await uploads_of(store, wo.id)) == 1


async def chunks(data: bytes, step: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), step):
        yield data[start : start + step]
