"""Photo renditions through the gateway, with the five services running as processes: the
upload answers while the copies are being prepared; the rendition worker of the photos
process then makes them once, and the photo list hands out URLs of both."""

from __future__ import annotations

import io
from uuid import UUID

import httpx
from fieldcrew_shared.events import PhotoRenditionsMade
from fieldcrew_shared.eventstore import EventStore
from PIL import Image

from tests.e2e.conftest import Crew, issue
from tests.images import scene
from tests.renditions import outcomes, rendition_outcome


async def test_the_copies_are_prepared_after_the_upload_and_made_once(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await issue(api, crew)
    path = f"/work-orders/{wo}/photos"
    data = scene(21, size=(1200, 900), gps=(48.137154, 11.576124))
    first = await api.post(path, files={"file": ("a.jpg", data, "image/jpeg")},
                           headers=crew.auth(crew.members[0]))  # fmt: skip
    assert first.status_code == 201, first.text
    # the answer is made from the log up to the upload's own event: the copies come after it
    body = first.json()
    assert (body["rendition"], body["url"], body["thumbnail_url"]) == ("pending", None, None)

    made = await rendition_outcome(log, UUID(wo), UUID(body["id"]))
    assert isinstance(made, PhotoRenditionsMade)
    again = await api.post(path, files={"file": ("b.jpg", data, "image/jpeg")},
                           headers=crew.auth(crew.leader))  # fmt: skip
    assert again.status_code == 201 and again.json()["duplicate"]
    assert again.json()["rendition"] == "ready"  # the photo's copies, made for its first upload
    [listed] = (await api.get(path, headers=crew.auth(crew.dispatcher))).json()
    assert listed["rendition"] == "ready" and listed["uploaders"] == [crew.members[0], crew.leader]
    async with httpx.AsyncClient() as plain:
        served = await plain.get(listed["url"])
        thumbnail = await plain.get(listed["thumbnail_url"])
    for answer, size in ((served, (1200, 900)), (thumbnail, (320, 240))):
        assert answer.status_code == 200
        with Image.open(io.BytesIO(answer.content)) as image:
            assert (image.format, image.size) == ("JPEG", size)
            assert not image.getexif()  # no place, no camera
    assert await outcomes(log, UUID(wo)) == [made]  # once, for both uploads of the bytes
