"""The hostile corpus (tests/hostile/) through the gateway, as a mobile client would send it,
to the five services running as processes: refused files get their 413/415/422, and the work
order's history and the bucket stay as they were."""

from __future__ import annotations

import asyncio
import hashlib
import io
from urllib.parse import urlsplit

import httpx
import pytest
from fieldcrew_cli.servers import Infra
from fieldcrew_shared.eventstore import EventStore
from minio import Minio
from PIL import Image

from tests.e2e.conftest import Crew, history, issue
from tests.hostile import Sample, corpus
from tests.renditions import all_made

BUCKET = "fieldcrew-photos"
# One or two of each kind of refusal (the integration test sends the whole corpus): the gateway
# must pass the bytes and the photos service's answer through unchanged.
THROUGH_GATEWAY = {
    "text-named.jpg",
    "script.svg",
    "empty.jpg",
    "php-comment.jpg",
    "php-xmp.jpg",
    "zip-polyglot.jpg",
    "script-exif.jpg",
    "truncated.jpg",
    "bomb.png",
    "absurd.jpg",
    "huge-exif.jpg",
}
REFUSED = [s for s in corpus() if s.refused and s.file in THROUGH_GATEWAY]
ACCEPTED = [s for s in corpus() if not s.refused]


@pytest.fixture(scope="module")
def s3(infra: Infra) -> Minio:
    return Minio(
        infra.s3_endpoint,
        access_key=infra.s3_access_key,
        secret_key=infra.s3_secret_key,
        secure=infra.s3_secure,
        region="us-east-1",
    )


async def bucket_keys(s3: Minio) -> set[str]:
    """Every key but the renditions, which the running photos service writes for other
    tests' uploads at any moment (never without a ``PhotoUploaded``)."""

    def keys() -> set[str]:
        names = (str(o.object_name) for o in s3.list_objects(BUCKET, recursive=True))
        return {n for n in names if not n.startswith(("served/", "thumbnails/"))}

    return await asyncio.to_thread(keys)


async def send(api: httpx.AsyncClient, crew: Crew, wo: str, sample: Sample) -> httpx.Response:
    return await api.post(
        f"/work-orders/{wo}/photos",
        files={"file": (sample.upload_name, sample.data, sample.declared_type)},
        data={"phase": "during"},
        headers=crew.auth(crew.members[0]),
    )


@pytest.mark.parametrize("sample", REFUSED, ids=lambda s: s.file)
async def test_a_hostile_file_is_refused_through_the_gateway(
    api: httpx.AsyncClient, crew: Crew, log: EventStore, s3: Minio, sample: Sample
) -> None:
    wo = await issue(api, crew)
    issued = (await history(log, wo)).records
    before = await bucket_keys(s3)
    response = await send(api, crew, wo, sample)
    assert (response.status_code, response.json()["error"]["code"]) == (sample.status, sample.code)
    assert (await history(log, wo)).records == issued  # only the WorkOrderIssued
    assert await bucket_keys(s3) == before
    photos = await api.get(f"/work-orders/{wo}/photos", headers=crew.auth(crew.leader))
    assert photos.status_code == 200 and photos.json() == []


@pytest.mark.parametrize("sample", ACCEPTED, ids=lambda s: s.file)
async def test_a_clean_image_under_a_hostile_name_is_served_re_encoded(
    api: httpx.AsyncClient, crew: Crew, log: EventStore, sample: Sample
) -> None:
    wo = await issue(api, crew)
    response = await send(api, crew, wo, sample)
    assert response.status_code == 201, response.text
    sha = hashlib.sha256(sample.data).hexdigest()
    [record] = (await log.load(f"fieldcrew.photos.{wo}.PhotoUploaded")).records
    assert record.event.model_dump()["object_key"] == f"sha256/{sha[:2]}/{sha}"
    assert response.json()["rendition"] == "pending"
    await all_made(log, wo)
    path = f"/work-orders/{wo}/photos/{response.json()['id']}"
    url = (await api.get(path, headers=crew.auth(crew.leader))).json()["url"]
    assert urlsplit(url).path == f"/{BUCKET}/served/{sha}.jpg"
    async with httpx.AsyncClient() as plain:
        served = await plain.get(url)
        anonymous = await plain.get(url.split("?")[0])
    assert (served.status_code, anonymous.status_code) == (200, 403)
    assert served.headers["content-type"] == "image/jpeg" and served.content != sample.data
    with Image.open(io.BytesIO(served.content)) as image:
        image.load()
        assert image.format == "JPEG" and dict(image.getexif()) == {}


def test_every_sample_chosen_for_the_gateway_is_in_the_corpus() -> None:
    assert {s.file for s in REFUSED} == THROUGH_GATEWAY
