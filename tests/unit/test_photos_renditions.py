"""The rules of a photo's renditions (pure) and the copies made of its pixels."""

from __future__ import annotations

import io
from uuid import uuid4

from fieldcrew_photos.domain import (
    RecordRenditionFailure,
    RecordRenditions,
    decide_rendition_failed,
    decide_renditions,
    fold,
    needs_renditions,
    rendition_command_id,
)
from fieldcrew_photos.rendition import renditions
from fieldcrew_shared.envelope import Metadata, seal
from fieldcrew_shared.events import Event, PhotoRenditionFailed, PhotoRenditionsMade
from fieldcrew_shared.records import Recorded
from PIL import ExifTags, Image

from tests.images import jpeg, picture, png
from tests.unit.factories import issued, photo

META = Metadata(actor="x", actorrole="system", correlationid="c")


def history(*events: Event) -> list[Recorded]:
    return [Recorded(n, seal(e, META, source="t"), e) for n, e in enumerate(events, start=1)]


def record(upload_sha: str = "ab" * 32) -> RecordRenditions:
    upload = photo(uuid4(), "m1", upload_sha)
    return RecordRenditions(upload, "served/x.jpg", 400, 300, "thumbnails/x.jpg", 320, 240)


def test_the_first_upload_of_a_photo_needs_its_copies_once() -> None:
    cmd = record()
    events: list[Event] = [issued(cmd.upload.work_order_id), cmd.upload]
    assert needs_renditions(fold(history(*events)), cmd.upload)
    made = decide_renditions(fold(history(*events)), cmd)
    assert len(made) == 1 and isinstance(made[0], PhotoRenditionsMade)
    assert made[0].photo_id == cmd.upload.photo_id and made[0].thumbnail_width == 320
    state = fold(history(*events, *made))
    assert not needs_renditions(state, cmd.upload)
    assert state.renditions == {cmd.upload.photo_id: made[0]}
    assert decide_renditions(state, cmd) == []  # recorded once, however often decided


def test_a_duplicate_upload_needs_no_copies_of_its_own() -> None:
    upload = photo(uuid4(), "m2", "cd" * 32).model_copy(update={"duplicate": True})
    assert not needs_renditions(fold(history(upload)), upload)


def test_a_failure_is_recorded_once_and_never_after_the_copies() -> None:
    cmd = record()
    failure = RecordRenditionFailure(cmd.upload, "OSError: broken", 4)
    failed = decide_rendition_failed(fold(history(cmd.upload)), failure)
    assert isinstance(failed[0], PhotoRenditionFailed) and failed[0].attempts == 4
    assert decide_rendition_failed(fold(history(cmd.upload, *failed)), failure) == []
    assert decide_renditions(fold(history(cmd.upload, *failed)), cmd) == []
    made = decide_renditions(fold(history(cmd.upload)), cmd)
    assert decide_rendition_failed(fold(history(cmd.upload, *made)), failure) == []


def test_made_wins_over_failed_for_the_photo_it_names() -> None:
    cmd, other = record(), record("ef" * 32)
    failed = decide_rendition_failed(fold([]), RecordRenditionFailure(cmd.upload, "x", 1))[0]
    done = decide_renditions(fold([]), cmd)[0]
    assert fold(history(failed)).renditions == {cmd.upload.photo_id: failed}
    assert fold(history(failed, done)).renditions == {cmd.upload.photo_id: done}
    assert fold(history(done, failed)).renditions == {cmd.upload.photo_id: done}
    assert other.upload.photo_id not in fold(history(failed, done)).renditions


def test_outcome_commands_derive_from_the_upload() -> None:
    assert rendition_command_id("e1", "made") == rendition_command_id("e1", "made")
    ids = {rendition_command_id(e, o) for e in ("e1", "e2") for o in ("made", "failed")}
    assert len(ids) == 4


def test_the_copies_are_upright_bounded_and_carry_no_metadata() -> None:
    tags = Image.Exif()
    tags[ExifTags.Base.Orientation] = 8
    tags.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] = "N"
    buffer = io.BytesIO()
    picture(3, (1000, 500)).save(buffer, "JPEG", exif=tags.tobytes())
    copies = renditions(buffer.getvalue(), served_max_side=800, thumbnail_side=320)
    assert (copies.served.width, copies.served.height) == (400, 800)  # bounded, then turned
    assert (copies.thumbnail.width, copies.thumbnail.height) == (160, 320)
    for copy in (copies.served, copies.thumbnail):
        with Image.open(io.BytesIO(copy.data)) as image:
            assert (image.format, image.size) == ("JPEG", (copy.width, copy.height))
            assert not image.getexif() and "exif" not in image.info


def test_a_large_photo_is_scaled_to_the_served_side_and_a_small_one_is_not_enlarged() -> None:
    big = renditions(jpeg(1, (2000, 1000)), served_max_side=1024, thumbnail_side=320)
    assert (big.served.width, big.served.height) == (1024, 512)
    assert (big.thumbnail.width, big.thumbnail.height) == (320, 160)
    small = renditions(png(2, (64, 48)), served_max_side=1024, thumbnail_side=320)
    assert (small.served.width, small.thumbnail.width) == (64, 64)
