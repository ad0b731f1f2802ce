"""What uploaded bytes are, decided from the bytes alone (Pillow, in memory, no I/O)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fieldcrew_photos.imaging import inspect
from fieldcrew_photos.rendition import renditions
from fieldcrew_shared.errors import UploadRejectedError
from PIL import ExifTags, Image

from tests.images import heic, jpeg, picture, png, png_claiming, webp

LIMIT = 40_000_000


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(jpeg(1), "image/jpeg"), (png(1), "image/png"), (webp(1), "image/webp")],
)
def test_real_images_are_accepted_with_their_type_and_size(data: bytes, content_type: str) -> None:
    info = inspect(data, max_pixels=LIMIT)
    assert (info.content_type, info.width, info.height) == (content_type, 64, 48)
    assert info.captured_at is None and info.location is None


def test_test_images_differ_by_seed() -> None:
    assert jpeg(1) == jpeg(1)
    assert len({jpeg(1), jpeg(2), png(1), png(2), webp(1), webp(2)}) == 6


def test_a_naive_capture_time_is_read_as_utc() -> None:
    info = inspect(jpeg(2, exif_time=datetime(2026, 1, 2, 3, 4, 5)), max_pixels=LIMIT)
    assert info.captured_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert info.captured_at.utcoffset() == timedelta(0)


def test_a_capture_time_keeps_its_exif_offset() -> None:
    taken = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
    info = inspect(jpeg(3, exif_time=taken), max_pixels=LIMIT)
    assert info.captured_at == taken
    assert info.captured_at is not None and info.captured_at.utcoffset() == taken.utcoffset()


@pytest.mark.parametrize("place", [(48.137154, 11.576124), (-33.856784, -70.648271)])
def test_gps_is_read_as_signed_degrees(place: tuple[float, float]) -> None:
    info = inspect(jpeg(4, gps=place), max_pixels=LIMIT)
    assert info.location is not None
    assert info.location.lat == pytest.approx(place[0], abs=1e-6)
    assert info.location.lon == pytest.approx(place[1], abs=1e-6)


def test_a_placeholder_capture_time_is_no_capture_time() -> None:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "0000:00:00 00:00:00"
    buffer = io.BytesIO()
    picture(5).save(buffer, "JPEG", exif=exif.tobytes())
    assert inspect(buffer.getvalue(), max_pixels=LIMIT).captured_at is None


def test_a_rotated_photo_reports_its_displayed_size() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # rotate 90° clockwise to display
    buffer = io.BytesIO()
    picture(6, (64, 48)).save(buffer, "JPEG", exif=exif.tobytes())
    info = inspect(buffer.getvalue(), max_pixels=LIMIT)
    assert (info.width, info.height) == (48, 64)


@pytest.mark.parametrize(
    "data",
    [b"this is a text file named photo.jpg\n", b"", b"\xff\xd8\xff\xe0 not really a jpeg"],
)
def test_bytes_that_are_not_an_image_are_unsupported(data: bytes) -> None:
    with pytest.raises(UploadRejectedError) as caught:
        inspect(data, max_pixels=LIMIT)
    assert (caught.value.status, caught.value.code) == (415, "unsupported_media_type")


def test_an_image_of_another_format_is_unsupported() -> None:
    buffer = io.BytesIO()
    picture(7).save(buffer, "GIF")
    with pytest.raises(UploadRejectedError) as caught:
        inspect(buffer.getvalue(), max_pixels=LIMIT)
    assert caught.value.status == 415


@pytest.mark.parametrize("data", [jpeg(8)[:-200], png(8)[:-40]], ids=["jpeg", "png"])
def test_a_truncated_image_is_refused(data: bytes) -> None:
    with pytest.raises(UploadRejectedError) as caught:
        inspect(data, max_pixels=LIMIT)
    assert (caught.value.status, caught.value.code) == (422, "corrupt_image")


@pytest.mark.parametrize("size", [(8000, 6000), (10_000, 10_000), (100_000, 100_000)])
def test_a_png_claiming_huge_dimensions_is_refused(size: tuple[int, int]) -> None:
    with pytest.raises(UploadRejectedError) as caught:
        inspect(png_claiming(*size), max_pixels=LIMIT)
    assert (caught.value.status, caught.value.code) == (422, "too_many_pixels")


def test_the_pixel_limit_is_inclusive() -> None:
    assert inspect(png(9), max_pixels=64 * 48).width == 64
    with pytest.raises(UploadRejectedError):
        inspect(png(9), max_pixels=64 * 48 - 1)


def test_a_heic_from_a_phone_is_accepted_with_its_time_and_place() -> None:
    taken = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    data = heic(5, size=(80, 60), exif_time=taken, gps=(48.137154, 11.576124))
    assert data[4:12] == b"ftypheic"
    info = inspect(data, max_pixels=LIMIT)
    assert (info.content_type, info.width, info.height) == ("image/heic", 80, 60)
    assert info.captured_at == taken
    assert info.location is not None and round(info.location.lat, 5) == 48.13715
    copies = renditions(data, served_max_side=4096, thumbnail_side=320)
    with Image.open(io.BytesIO(copies.served.data)) as served:
        assert (served.format, served.size) == ("JPEG", (80, 60))
        assert not served.getexif()  # the served copy carries no place


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (heic(6)[:-40], "corrupt_image"),
        (heic(6) + b"<?php system($_GET['c']); ?>", "embedded_content"),
        (heic(6, xmp=b"<x:xmpmeta><script>alert(1)</script></x:xmpmeta>"), "embedded_content"),
        (heic(6, xmp=b"<x:xmpmeta>" + b"A" * 300_000 + b"</x:xmpmeta>"), "too_much_metadata"),
    ],
    ids=["truncated", "php-trailer", "script-in-xmp", "huge-xmp"],
)
def test_a_heic_gets_the_same_checks(data: bytes, code: str) -> None:
    with pytest.raises(UploadRejectedError) as refused:
        inspect(data, max_pixels=LIMIT)
    assert (refused.value.status, refused.value.code) == (422, code)
