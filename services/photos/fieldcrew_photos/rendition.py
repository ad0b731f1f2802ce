"""The copy of a photo that clients see: re-encoded from its decoded pixels, no metadata.

The uploaded bytes are evidence and are kept unaltered, but never handed to a client. What a
client downloads is rebuilt here (content disarm and reconstruction): the pixels are decoded,
turned upright by the EXIF orientation, flattened onto white if transparent, bounded to a
longest side, and written as a fresh baseline JPEG. Nothing of the upload survives but pixels:
no EXIF (so no GPS position), no XMP, ICC profile or comments, no trailer, nothing a polyglot
hid in a segment. Capture time and place stay in the ``PhotoUploaded`` event as evidence.

Pure CPU work on bytes that :func:`fieldcrew_photos.imaging.inspect` already accepted; callers
run it in a worker thread.
"""

from __future__ import annotations

import io

from PIL import ExifTags, Image

CONTENT_TYPE = "image/jpeg"
QUALITY = 88
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


def served_copy(data: bytes, *, max_side: int) -> bytes:
    """A metadata-free JPEG of ``data``'s pixels, upright, at most ``max_side`` on a side.

    No copy of the pixels is made that is not needed (each costs ~40 ms for a 12 MP photo,
    bench/, issue 4): an upright RGB picture within ``max_side`` is encoded as decoded."""
    with Image.open(io.BytesIO(data), formats=_OPENERS) as image:
        image.thumbnail((max_side, max_side))  # decodes JPEGs at a reduced scale when it can
        image.load()
        turn = _TURNS.get(image.getexif().get(ExifTags.Base.Orientation, 1))
        pixels = _rgb(image)
        if turn is not None:
            pixels = pixels.transpose(turn)
        pixels.info = {}  # nothing of the upload's metadata reaches the encoder
        buffer = io.BytesIO()
        pixels.save(buffer, "JPEG", quality=QUALITY)
    return buffer.getvalue()


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
