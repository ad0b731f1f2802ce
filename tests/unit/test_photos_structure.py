"""Honest photos pass the structure checks and get clean copies; broken structures and
hidden content do not pass (pure: bytes in, verdict out)."""

from __future__ import annotations

import io
import random

import pytest
from fieldcrew_photos.handlers import Limits, examine
from fieldcrew_photos.rendition import Renditions, renditions
from fieldcrew_photos.structure import anatomy, check
from fieldcrew_shared.errors import UploadRejectedError
from PIL import Image, ImageCms

from tests.images import jpeg, picture, png, webp

LIMITS = Limits(max_pixels=40_000_000, max_metadata_bytes=256 * 1024)
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def rotated_exif() -> bytes:
    tags = Image.Exif()
    tags[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    tags[0x010F] = "Camera maker"
    return tags.tobytes()


PHOTO = picture(1, (160, 120))
HONEST = {
    "progressive jpeg": (encoded(PHOTO, "JPEG", progressive=True), (160, 120)),
    "restart markers": (encoded(PHOTO, "JPEG", restart_marker_blocks=2), (160, 120)),
    "jpeg icc + exif": (encoded(PHOTO, "JPEG", icc_profile=ICC, exif=rotated_exif()), (120, 160)),
    "cmyk jpeg": (encoded(PHOTO.convert("CMYK"), "JPEG"), (160, 120)),
    "mpo": (encoded(PHOTO, "MPO", save_all=True, append_images=[picture(2, (160, 120))]), None),
    "png icc": (encoded(PHOTO, "PNG", icc_profile=ICC), (160, 120)),
    "png rgba": (encoded(PHOTO.convert("RGBA"), "PNG"), (160, 120)),
    "png palette": (encoded(PHOTO.convert("P"), "PNG", transparency=0), (160, 120)),
    "png 16-bit grey": (encoded(Image.new("I;16", (50, 40), 40_000), "PNG"), (50, 40)),
    "apng": (encoded(PHOTO, "PNG", save_all=True, append_images=[picture(3, (160, 120))]), None),
    "webp icc + exif": (encoded(PHOTO, "WEBP", icc_profile=ICC, exif=rotated_exif()), (120, 160)),
    "animated webp": (
        encoded(PHOTO, "WEBP", save_all=True, append_images=[picture(4, (160, 120))]),
        None,
    ),
}


def copies(data: bytes, served_max_side: int = 4096) -> Renditions:
    return renditions(data, served_max_side=served_max_side, thumbnail_side=80)


@pytest.mark.parametrize("name", HONEST)
def test_honest_photos_are_accepted_and_served_without_metadata(name: str) -> None:
    data, size = HONEST[name]
    examine(data, LIMITS)
    made = copies(data)
    width, height = size or (160, 120)
    scale = min(1.0, 80 / max(width, height))  # a thumbnail is never larger than the photo
    small = (round(width * scale), round(height * scale))
    for copy, want in ((made.served, (width, height)), (made.thumbnail, small)):
        with Image.open(io.BytesIO(copy.data)) as served:
            served.load()
            assert (served.format, served.mode) == ("JPEG", "RGB")
            assert served.size == (copy.width, copy.height) == want
            assert dict(served.getexif()) == {}
            assert not {"exif", "icc_profile", "xmp", "comment"} & set(served.info)


def test_the_served_copy_is_bounded_to_its_longest_side() -> None:
    data = jpeg(5, size=(640, 480))
    examined = examine(data, LIMITS)
    assert (examined.info.width, examined.info.height) == (640, 480)  # the evidence's size
    assert Image.open(io.BytesIO(copies(data, served_max_side=100).served.data)).size == (100, 75)


def test_random_binary_metadata_and_trailers_are_not_mistaken_for_content() -> None:
    rng = random.Random(20261127)
    base = jpeg(6)
    for _ in range(20):
        blob = rng.randbytes(65_000)
        segment = b"\xff\xe2" + (len(blob) + 2).to_bytes(2, "big") + blob
        check(
            base[:2] + segment + base[2:] + rng.randbytes(256 * 1024),
            "JPEG",
            max_metadata_bytes=10**6,
        )


def test_a_motion_photo_trailer_is_allowed_and_found() -> None:
    video = b"\x00\x00\x00\x18ftypmp42" + random.Random(7).randbytes(4096)
    data = jpeg(7) + video
    parts = check(data, "JPEG", max_metadata_bytes=256 * 1024)
    assert data[parts.trailer[0] : parts.trailer[1]] == video
    assert examine(data, LIMITS).info.content_type == "image/jpeg"


@pytest.mark.parametrize(
    ("data", "image_format"),
    [
        (jpeg(8)[:-2], "JPEG"),  # no end-of-image marker
        (jpeg(8)[:300], "JPEG"),  # ends inside a segment or scan
        (png(8)[:-12], "PNG"),  # no IEND: Pillow alone still decodes this one
        (webp(8)[:4] + (10**6).to_bytes(4, "little") + webp(8)[8:], "WEBP"),  # RIFF size lies
    ],
    ids=["jpeg-no-eoi", "jpeg-cut", "png-no-iend", "webp-riff-lies"],
)
def test_a_structure_that_does_not_add_up_is_corrupt(data: bytes, image_format: str) -> None:
    with pytest.raises(UploadRejectedError) as caught:
        check(data, image_format, max_metadata_bytes=256 * 1024)
    assert (caught.value.status, caught.value.code) == (422, "corrupt_image")


def test_pixel_data_is_not_counted_as_metadata() -> None:
    data = jpeg(9, size=(400, 300))
    parts = anatomy(data, "JPEG")
    assert parts.trailer == (len(data), len(data))
    assert parts.metadata_bytes < 1024 < len(data) // 4
