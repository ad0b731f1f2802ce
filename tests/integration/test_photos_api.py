"""The photos service in-process against the real NATS JetStream and S3 of the test session,
with work orders issued through the real dispatch service."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import httpx
import pytest
from fieldcrew_dispatch.config import Settings as DispatchSettings
from fieldcrew_dispatch.main import create_app as create_dispatch
from fieldcrew_photos.config import Settings
from fieldcrew_photos.main import create_app
from fieldcrew_shared.events import PhotoRenditionsMade, PhotoUploaded, subject_for
from fieldcrew_shared.eventstore import EventStore, connect
from minio import Minio
from minio.error import S3Error
from PIL import Image

from tests.conftest import TokenFactory, app_client, bearer
from tests.images import heic, jpeg, png
from tests.renditions import rendition_outcome


@dataclass(frozen=True)
class Crewed:
    """A freshly issued work order and its crew (unique user ids)."""

    id: UUID
    leader: str
    members: list[str]


@pytest.fixture(scope="module", name="dispatch")
async def dispatch_client(settings_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_dispatch(DispatchSettings())) as client:
        yield client


@pytest.fixture(scope="module", name="photos")
async def photos_client(settings_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_app(Settings())) as client:
        yield client


@pytest.fixture(scope="module", name="store")
async def event_store(settings_env: dict[str, str]) -> AsyncIterator[EventStore]:
    nc = await connect(settings_env["FIELDCREW_NATS_URL"], name="test-photos")
    yield EventStore(nc, source="test")
    await nc.drain()


@pytest.fixture(scope="module", name="s3")
def s3_admin(settings_env: dict[str, str]) -> Minio:
    return Minio(
        settings_env["FIELDCREW_S3_ENDPOINT"],
        access_key=settings_env["FIELDCREW_S3_ACCESS_KEY"],
        secret_key=settings_env["FIELDCREW_S3_SECRET_KEY"],
        secure=settings_env["FIELDCREW_S3_SECURE"] == "true",
        region="us-east-1",
    )


@pytest.fixture(name="wo")
async def work_order(dispatch: httpx.AsyncClient, token: TokenFactory) -> Crewed:
    tag = uuid4().hex[:10]
    leader, members = f"lead-{tag}", [f"m1-{tag}", f"m2-{tag}"]
    response = await dispatch.post(
        "/work-orders",
        json={"title": "Replace pump seal", "crew": {"leader": leader, "members": members}},
        headers=bearer(token(f"disp-{tag}", "dispatcher")),
    )
    assert response.status_code == 201, response.text
    return Crewed(UUID(response.json()["id"]), leader, members)


async def upload(
    client: httpx.AsyncClient,
    token: TokenFactory,
    wo: UUID,
    user: str,
    data: bytes,
    *,
    filename: str = "photo.jpg",
    role: str = "technician",
    **form: str,
) -> httpx.Response:
    return await client.post(
        f"/work-orders/{wo}/photos",
        files={"file": (filename, data, "image/jpeg")},
        data=form,
        headers=bearer(token(user, role)),
    )


async def made(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, wo: Crewed, body: Any
) -> dict[str, Any]:
    """The photo ``body`` described once its copies are made (the rendition worker of an
    in-process photos app makes them after the upload answered)."""
    outcome = await rendition_outcome(store, wo.id, UUID(body["id"]))
    assert isinstance(outcome, PhotoRenditionsMade), outcome
    path = f"/work-orders/{wo.id}/photos/{body['id']}"
    answer = await photos.get(path, headers=bearer(token(wo.leader)))
    assert answer.status_code == 200 and answer.json()["rendition"] == "ready", answer.text
    ready: dict[str, Any] = answer.json()
    return ready


async def uploads_of(store: EventStore, wo: UUID) -> list[PhotoUploaded]:
    events = (await store.load(subject_for("photos", wo, "PhotoUploaded"))).events
    assert all(isinstance(e, PhotoUploaded) for e in events)
    return [e for e in events if isinstance(e, PhotoUploaded)]


BUCKET = "fieldcrew-photos"


def original_key(sha256: str) -> str:
    return f"sha256/{sha256[:2]}/{sha256}"


def served_key(sha256: str) -> str:
    return f"served/{sha256}.jpg"


async def stored_bytes(s3: Minio, sha256: str, key: str | None = None) -> bytes:
    def read() -> bytes:
        response = s3.get_object(BUCKET, key or original_key(sha256))
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    return await asyncio.to_thread(read)


async def is_stored(s3: Minio, sha256: str, key: str | None = None) -> bool:
    def stat() -> bool:
        try:
            s3.stat_object(BUCKET, key or original_key(sha256))
        except S3Error as exc:
            assert exc.code == "NoSuchKey"
            return False
        return True

    return await asyncio.to_thread(stat)


def thumbnail_key(sha256: str) -> str:
    return f"thumbnails/{sha256}.jpg"


async def stores_nothing_for(s3: Minio, sha256: str) -> bool:
    """Neither the original nor a copy of these bytes is in the bucket."""
    keys = (original_key(sha256), served_key(sha256), thumbnail_key(sha256))
    return not any([await is_stored(s3, sha256, key) for key in keys])


async def test_a_member_uploads_a_photo_stored_under_its_sha256(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, s3: Minio, wo: Crewed
) -> None:
    data = jpeg(101)
    sha = hashlib.sha256(data).hexdigest()
    response = await upload(photos, token, wo.id, wo.members[0], data, caption="old seal")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["sha256"], body["size"], body["content_type"]) == (sha, len(data), "image/jpeg")
    assert (body["width"], body["height"], body["duplicate"]) == (64, 48, False)
    assert body["uploaders"] == [wo.members[0]] and body["caption"] == "old seal"
    assert response.headers["Location"].endswith(f"/photos/{body['id']}")
    assert await is_stored(s3, sha) and await stored_bytes(s3, sha) == data
    [event] = await uploads_of(store, wo.id)
    assert (event.uploader, event.uploader_role, str(event.photo_id)) == (
        wo.members[0],
        "member",
        body["id"],
    )


async def test_the_list_gives_urls_of_re_encoded_copies_not_of_the_originals(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, s3: Minio, wo: Crewed
) -> None:
    first, second = jpeg(102), png(102)
    one = await upload(photos, token, wo.id, wo.members[1], first, phase="before")
    two = await upload(photos, token, wo.id, wo.leader, second, filename="x.png", phase="after")
    for body in (one.json(), two.json()):
        assert (body["rendition"], body["url"], body["thumbnail_url"]) == ("pending", None, None)
        await made(photos, token, store, wo, body)
    listed = await photos.get(
        f"/work-orders/{wo.id}/photos", headers=bearer(token("office", "dispatcher"))
    )
    assert listed.status_code == 200, listed.text
    items = listed.json()
    assert [(p["uploaders"], p["phase"]) for p in items] == [
        ([wo.members[1]], "before"),
        ([wo.leader], "after"),
    ]
    assert [p["rendition"] for p in items] == ["ready", "ready"]
    async with httpx.AsyncClient() as plain:
        downloads = [(await plain.get(p[url])) for p in items for url in ("url", "thumbnail_url")]
    assert [d.status_code for d in downloads] == [200] * 4
    assert {d.headers["content-type"] for d in downloads} == {"image/jpeg"}
    for n, (item, original) in enumerate(zip(items, [first, second], strict=True)):
        sha = item["sha256"]
        assert urlsplit(item["url"]).path == f"/{BUCKET}/{served_key(sha)}"
        assert urlsplit(item["thumbnail_url"]).path == f"/{BUCKET}/{thumbnail_key(sha)}"
        for download in downloads[2 * n : 2 * n + 2]:
            assert download.content != original
            with Image.open(io.BytesIO(download.content)) as served:
                served.load()
                assert (served.format, served.size) == ("JPEG", (64, 48))  # not enlarged
        assert await stored_bytes(s3, sha) == original  # the evidence, unaltered


async def test_one_photo_by_id_and_who_may_see_it(
    photos: httpx.AsyncClient, token: TokenFactory, wo: Crewed
) -> None:
    created = (await upload(photos, token, wo.id, wo.members[0], jpeg(103))).json()
    path = f"/work-orders/{wo.id}/photos"
    as_crew = await photos.get(f"{path}/{created['id']}", headers=bearer(token(wo.members[1])))
    assert as_crew.status_code == 200 and as_crew.json()["sha256"] == created["sha256"]
    stranger = await photos.get(path, headers=bearer(token(f"x-{uuid4()}")))
    assert stranger.status_code == 403
    unknown = await photos.get(f"{path}/{uuid4()}", headers=bearer(token(wo.leader)))
    assert unknown.status_code == 404
    assert (await photos.get(path)).status_code == 401


async def test_text_named_jpg_is_refused_and_nothing_is_written(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, s3: Minio, wo: Crewed
) -> None:
    text = f"not a photo {uuid4()}\n".encode()
    response = await upload(photos, token, wo.id, wo.members[0], text, filename="x.jpg")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert (await store.load(subject_for("photos", wo.id))).records == []
    assert await stores_nothing_for(s3, hashlib.sha256(text).hexdigest())


async def test_a_truncated_photo_is_refused(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, wo: Crewed
) -> None:
    response = await upload(photos, token, wo.id, wo.leader, jpeg(104)[:-300])
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "corrupt_image"
    assert await uploads_of(store, wo.id) == []


async def test_a_photo_over_the_size_limit_is_refused(
    token: TokenFactory, store: EventStore, wo: Crewed
) -> None:
    data = jpeg(105, size=(200, 150))
    small = Settings(max_upload_bytes=len(data) - 1)
    async with app_client(create_app(small)) as photos:
        response = await upload(photos, token, wo.id, wo.members[0], data)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "too_large"
        huge = await upload(photos, token, wo.id, wo.members[0], data * 100)
        assert (huge.status_code, huge.json()["error"]["code"]) == (413, "too_large")
        exact = await upload(photos, token, wo.id, wo.members[0], data[:-1])
        assert exact.status_code == 422  # within the limit, then found truncated
    assert await uploads_of(store, wo.id) == []


async def test_only_the_crew_uploads_to_a_work_order_that_exists(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, wo: Crewed
) -> None:
    stranger = await upload(photos, token, wo.id, f"tech-{uuid4()}", jpeg(106))
    assert stranger.status_code == 403
    office = await upload(photos, token, wo.id, "office", jpeg(106), role="dispatcher")
    assert office.status_code == 403
    assert await uploads_of(store, wo.id) == []
    unknown = await upload(photos, token, uuid4(), wo.members[0], jpeg(106))
    assert unknown.status_code == 404


async def test_the_same_bytes_twice_by_the_same_member_are_one_event(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, wo: Crewed
) -> None:
    data = jpeg(107)
    first = await upload(photos, token, wo.id, wo.members[0], data)
    again = await upload(photos, token, wo.id, wo.members[0], data, caption="retry")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] is True and again.json()["id"] == first.json()["id"]
    assert len(await uploads_of(store, wo.id)) == 1


async def test_the_same_bytes_by_two_members_appear_once_crediting_both(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, wo: Crewed
) -> None:
    data = jpeg(108)
    first = await upload(photos, token, wo.id, wo.members[0], data)
    second = await upload(photos, token, wo.id, wo.leader, data)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["duplicate"] is True
    assert second.json()["uploaders"] == [wo.members[0], wo.leader]
    listed = await photos.get(f"/work-orders/{wo.id}/photos", headers=bearer(token(wo.leader)))
    [photo] = listed.json()
    assert photo["uploaders"] == [wo.members[0], wo.leader]
    events = await uploads_of(store, wo.id)
    assert [(e.uploader_role, e.duplicate) for e in events] == [
        ("member", False),
        ("leader", True),
    ]


async def test_a_retry_with_the_same_idempotency_key_is_answered_and_other_bytes_refused(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, wo: Crewed
) -> None:
    member, key = wo.members[0], {"Idempotency-Key": f"photo-{uuid4()}"}

    async def send(data: bytes) -> httpx.Response:
        files = {"file": ("p.jpg", data, "image/jpeg")}
        headers = {**bearer(token(member)), **key}
        return await photos.post(f"/work-orders/{wo.id}/photos", files=files, headers=headers)

    first, again = await send(jpeg(112)), await send(jpeg(112))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = await send(jpeg(113))
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert [e.sha256 for e in await uploads_of(store, wo.id)] == [first.json()["sha256"]]


async def test_concurrent_uploads_of_the_same_bytes_still_make_one_photo(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, wo: Crewed
) -> None:
    data = jpeg(111)
    senders = [wo.leader, *wo.members, wo.members[0]]  # the last one is a retry
    responses = await asyncio.gather(*[upload(photos, token, wo.id, who, data) for who in senders])
    assert sorted(r.status_code for r in responses) == [200, 201, 201, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    events = await uploads_of(store, wo.id)
    assert sorted(e.uploader for e in events) == sorted([wo.leader, *wo.members])
    assert [e.duplicate for e in events] == [False, True, True]


async def test_exif_capture_time_and_place_are_in_the_response(
    photos: httpx.AsyncClient, token: TokenFactory, wo: Crewed
) -> None:
    taken = datetime(2026, 2, 3, 10, 20, 30)
    data = jpeg(109, exif_time=taken, gps=(52.520008, -13.404954))
    body: dict[str, Any] = (await upload(photos, token, wo.id, wo.members[1], data)).json()
    assert datetime.fromisoformat(body["captured_at"]) == taken.replace(tzinfo=UTC)
    assert body["location"] == {
        "lat": pytest.approx(52.520008, abs=1e-6),
        "lon": pytest.approx(-13.404954, abs=1e-6),
    }


async def test_bad_form_fields_are_refused(
    photos: httpx.AsyncClient, token: TokenFactory, wo: Crewed
) -> None:
    bad_phase = await upload(photos, token, wo.id, wo.leader, jpeg(110), phase="someday")
    long_caption = await upload(photos, token, wo.id, wo.leader, jpeg(110), caption="x" * 501)
    assert (bad_phase.status_code, long_caption.status_code) == (422, 422)


async def test_an_iphone_heic_is_stored_as_sent_and_served_as_a_jpeg(
    photos: httpx.AsyncClient, token: TokenFactory, store: EventStore, s3: Minio, wo: Crewed
) -> None:
    taken = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    data = heic(103, size=(96, 72), exif_time=taken, gps=(-33.8688, 151.2093))
    response = await upload(photos, token, wo.id, wo.leader, data, filename="IMG_0001.HEIC")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["content_type"], body["width"], body["height"]) == ("image/heic", 96, 72)
    assert body["captured_at"] == "2026-05-06T07:08:09Z"
    assert round(body["location"]["lat"], 4) == -33.8688
    assert await stored_bytes(s3, body["sha256"]) == data
    body = await made(photos, token, store, wo, body)
    async with httpx.AsyncClient() as plain:
        served = await plain.get(body["url"])
    with Image.open(io.BytesIO(served.content)) as copy:
        assert (copy.format, copy.size) == ("JPEG", (96, 72)) and not copy.getexif()
