"""Photos' rules, pure: given a work order and its photo history, when a crew member uploads
bytes, then these events (or this refusal)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from fieldcrew_photos.domain import (
    PhotosState,
    UploadPhoto,
    decide_upload,
    fold,
    photo_id_for,
)
from fieldcrew_shared.api_models import MAX_CAPTION
from fieldcrew_shared.errors import ForbiddenError, InvalidCommandError, NotFoundError
from fieldcrew_shared.events import Event, GeoPoint, Phase, PhotoUploaded

from tests.unit.factories import history, issued


def given(wo: UUID, *events: Event) -> PhotosState:
    """The work order ``wo`` issued, then ``events``."""
    return fold(history(issued(wo), *events))


SHA_A, SHA_B = "a" * 64, "b" * 64


def upload(wo: UUID, uploader: str, sha: str = SHA_A, **kw: object) -> UploadPhoto:
    fields: dict[str, object] = dict(
        work_order_id=wo,
        uploader=uploader,
        sha256=sha,
        object_key=f"sha256/{sha[:2]}/{sha}",
        content_type="image/jpeg",
        size=1234,
        width=64,
        height=48,
    )
    fields.update(kw)
    return UploadPhoto(**fields)  # type: ignore[arg-type]


def only_upload(events: list[Event]) -> PhotoUploaded:
    [event] = events
    assert isinstance(event, PhotoUploaded)
    return event


def test_a_member_uploads_a_photo_with_what_the_bytes_are() -> None:
    wo = uuid4()
    when, where = datetime(2026, 3, 4, 5, 6, tzinfo=UTC), GeoPoint(lat=48.1, lon=-11.5)
    cmd = upload(wo, "m2", caption="seal", phase=Phase.before, captured_at=when, location=where)
    event = only_upload(decide_upload(given(wo), cmd))
    assert event.work_order_id == wo and event.photo_id == photo_id_for(wo, SHA_A)
    assert (event.uploader, event.uploader_role, event.duplicate) == ("m2", "member", False)
    assert (event.sha256, event.object_key, event.size) == (SHA_A, cmd.object_key, 1234)
    assert (event.caption, event.phase) == ("seal", Phase.before)
    assert (event.captured_at, event.location) == (when, where)


def test_the_leader_uploads_as_leader() -> None:
    wo = uuid4()
    event = only_upload(decide_upload(given(wo), upload(wo, "lead")))
    assert event.uploader_role == "leader"


def test_an_unknown_work_order_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        decide_upload(PhotosState(), upload(uuid4(), "m1"))


@pytest.mark.parametrize("stranger", ["m9", "disp", ""])
def test_only_the_crew_uploads(stranger: str) -> None:
    wo = uuid4()
    with pytest.raises(ForbiddenError):
        decide_upload(given(wo), upload(wo, stranger))


def test_the_same_bytes_again_from_the_same_uploader_change_nothing() -> None:
    wo = uuid4()
    history = decide_upload(given(wo), upload(wo, "m1"))
    assert decide_upload(given(wo, *history), upload(wo, "m1", caption="again")) == []


def test_the_same_bytes_from_another_member_credit_them_on_the_same_photo() -> None:
    wo = uuid4()
    first = only_upload(decide_upload(given(wo), upload(wo, "m1")))
    second = only_upload(decide_upload(given(wo, first), upload(wo, "lead")))
    assert second.photo_id == first.photo_id
    assert (second.uploader, second.uploader_role, second.duplicate) == ("lead", "leader", True)


def test_other_bytes_are_another_photo() -> None:
    wo = uuid4()
    first = only_upload(decide_upload(given(wo), upload(wo, "m1")))
    other = only_upload(decide_upload(given(wo, first), upload(wo, "m1", sha=SHA_B)))
    assert other.photo_id != first.photo_id and not other.duplicate


def test_photo_ids_are_stable_per_work_order_and_bytes() -> None:
    wo, other_wo = uuid4(), uuid4()
    assert photo_id_for(wo, SHA_A) == photo_id_for(wo, SHA_A)
    assert photo_id_for(wo, SHA_A) != photo_id_for(other_wo, SHA_A)


def test_a_caption_has_a_length_limit() -> None:
    wo = uuid4()
    assert decide_upload(given(wo), upload(wo, "m1", caption="x" * MAX_CAPTION))
    with pytest.raises(InvalidCommandError):
        decide_upload(given(wo), upload(wo, "m1", caption="x" * (MAX_CAPTION + 1)))
