"""The copies of a photo that clients see: re-encoded from its decoded pixels, no metadata.

The uploaded bytes are evidence and are kept unaltered, but never handed to a client. What a
client downloads is rebuilt here (content disarm and reconstruction): the pixels are decoded,
turned upright by the EXIF orientation, flattened onto white if transparent, bounded to a
longest side, and written as a fresh baseline JPEG. Nothing of the upload survives but pixels:
no EXIF (so no GPS position), no XMP, ICC profile or comments, no trailer, nothing a polyglot
hid in a segment. Capture time and place stay in the ``PhotoUploaded`` event as evidence.

Two copies are made from one decode (:func:`renditions`): the served copy, at most
``served_max_side`` on a side, and a thumbnail of about 320 px for lists and the console.

Pure CPU work on bytes that :func:`fieldcrew_photos.imaging.inspect` accepted at upload;
the photos service runs it in a child process (:mod:`fieldcrew_photos.copier`).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import ExifTags, Image

CONTENT_TYPE = "image/jpeg"
QUALITY = 88
THUMBNAIL_QUALITY = 80
_OPENERS = ["JPEG", "PNG", "WEBP", "HEIF"]  # HEIF: registered by imaging
# EXIF orientation -> the turn that makes the picture upright (as ImageOps.exif_transpose)
_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIXTEEN_BIT = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


class DigestMismatchError(ValueError):
    """The stored original is not the bytes its upload recorded."""


@dataclass(frozen=True)
class Copy:
    """One re-encoded JPEG and its size in pixels."""

    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class Renditions:
    """What clients see of one photo: the served copy and its thumbnail."""

    served: Copy
    thumbnail: Copy


def copies_of(
    original: bytes, sha256: str, *, served_max_side: int, thumbnail_side: int
) -> Renditions:
    """:func:`renditions` of ``original`` once its digest is ``sha256``:
    DigestMismatchError when the bytes read back are not the ones uploaded."""
    if hashlib.sha256(original).hexdigest() != sha256:
        raise DigestMismatchError("the stored original does not match its sha256")
    return renditions(original, served_max_side=served_max_side, thumbnail_side=thumbnail_side)


def renditions(data: bytes, *, served_max_side: int, thumbnail_side: int) -> Renditions:
    """The served copy (at most ``served_max_side`` on a side) and the thumbnail (at most
    ``thumbnail_side``), both metadata-free upright JPEGs, from one decode of ``data``.

    No copy of the pixels is made that is not needed (each costs ~40 ms for a 12 MP photo,
    bench/README.md): an upright RGB picture within ``served_max_side`` is encoded as
    decoded, and the thumbnail is scaled from the served copy's pixels in place."""
    with Image.open(io.BytesIO(data), formats=_OPENERS) as image:
        pixels = _upright(image, served_max_side)
        served = _encode(pixels, QUALITY)
        pixels.thumbnail((thumbnail_side, thumbnail_side))
        return Renditions(served, _encode(pixels, THUMBNAIL_QUALITY))


def _upright(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` decoded, within ``max_side``, turned upright, as 8-bit RGB, with no info."""
    image.thumbnail((max_side, max_side))  # decodes JPEGs at a reduced scale when it can
    image.load()
    turn = _TURNS.get(image.getexif().get(ExifTags.Base.Orientation, 1))
    pixels = _rgb(image)
    if turn is not None:
        pixels = pixels.transpose(turn)
    pixels.info = {}  # nothing of the upload's metadata reaches the encoder
    return pixels


def _encode(pixels: Image.Image, quality: int) -> Copy:
    buffer = io.BytesIO()
    pixels.save(buffer, "JPEG", quality=quality)
    return Copy(buffer.getvalue(), pixels.width, pixels.height)


def _rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB: transparency flattened onto white, 16-bit grey scaled rather than clipped."""
    if image.mode in _SIXTEEN_BIT:
        return image.convert("I").point(lambda v: v * (1 / 257)).convert("L").convert("RGB")
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, "white")
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode == "RGB":
        return image
    return image.convert("RGB")
