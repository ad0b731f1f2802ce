"""Write the hostile upload corpus: ``.venv/bin/python -m tests.hostile.make_corpus``.

Every sample is made here from a few lines of bytes or Pillow calls, then committed under
``tests/hostile/corpus/`` so that the tests use fixed files. ``manifest.json`` says for each one
the name and type a client declares for it and the answer expected (status and error code);
``README.md`` is rewritten with the same table. Run again only to change the corpus.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Callable
from dataclasses import asdict

from PIL import Image, PngImagePlugin

from tests.hostile import FILES, HERE, Sample
from tests.images import jpeg, picture, png, png_claiming, webp

PHP = b"<?php system($_GET['c']); ?>"
HTML = b"<!DOCTYPE html>\n<html><body><script>fetch('/api/v1/work-orders')</script></body></html>\n"
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48" onload="alert(1)">'
    b"<script>alert(document.cookie)</script></svg>\n"
)
# The EICAR test string with its words changed, so that no virus scanner quarantines the repo.
EICAR_LIKE = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-LIKE-HOSTILE-UPLOAD-TEST-FILE!$H+H*"


def with_segment(image: bytes, marker: int, payload: bytes) -> bytes:
    """``image`` (a JPEG) with one more segment right after its start-of-image marker."""
    return image[:2] + struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload + image[2:]


def exif_text(**fields: str) -> bytes:
    """EXIF holding text tags (ImageDescription 0x010E, Artist 0x013B)."""
    tags = Image.Exif()
    ids = {"description": 0x010E, "artist": 0x013B}
    for name, value in fields.items():
        tags[ids[name]] = value
    return tags.tobytes()


def encoded(fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    picture(900, (32, 24)).save(buffer, fmt, **options)
    return buffer.getvalue()


def zip_with_shell() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("shell.php", date_time=(2026, 1, 1, 0, 0, 0)), PHP)
    return buffer.getvalue()


def absurd_jpeg() -> bytes:
    """A real JPEG whose frame header (SOF0) is rewritten to claim 65000 x 65000 pixels."""
    data = bytearray(jpeg(901))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    return bytes(data)


def huge_exif() -> bytes:
    """Five EXIF segments of 64 KB each: 320 KB of metadata around a 64x48 photo."""
    blob = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x00\x00" + b"\x00" * 65_500
    data = jpeg(902)
    for _ in range(5):
        data = with_segment(data, 0xE1, blob)
    return data


def xmp_with_php() -> bytes:
    packet = (
        b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta>' + PHP + b"</x:xmpmeta>"
    )
    return with_segment(jpeg(903), 0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + packet)


def png_with_script_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "<script>alert(document.domain)</script>")
    return encoded("PNG", pnginfo=info)


def elf() -> bytes:
    header = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + struct.pack("<HHI", 2, 0x3E, 1)
    return header + b"\x00" * (64 - len(header)) + b"\x90" * 16


def pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /OpenAction 2 0 R >> endobj\n"
        b"2 0 obj << /S /JavaScript /JS (app.alert('hostile')) >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def one_bit_bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def gif_with_script_comment() -> bytes:
    return encoded("GIF", comment=b"*/=alert(1)//")


REFUSED_415 = "unsupported_media_type"
SAMPLES: dict[Sample, Callable[[], bytes]] = {
    Sample("text-named.jpg", "plain text named .jpg", 415, REFUSED_415): lambda: (
        b"This is not a photo, it only has a photo's name.\n"
    ),
    Sample("page.html", "an HTML page with a script", 415, REFUSED_415): lambda: HTML,
    Sample(
        "script.svg", "SVG with onload and <script>", 415, REFUSED_415, "photo.svg", "image/svg+xml"
    ): lambda: SVG,
    Sample(
        "svg-as-png.png",
        "the same SVG declared as a PNG",
        415,
        REFUSED_415,
        "photo.png",
        "image/png",
    ): lambda: SVG,
    Sample("animation.gif", "a GIF (not accepted) with a JS comment", 415, REFUSED_415): (
        gif_with_script_comment
    ),
    Sample("bitmap.bmp", "a BMP image (not accepted)", 415, REFUSED_415): lambda: encoded("BMP"),
    Sample("scan.tiff", "a TIFF image (not accepted)", 415, REFUSED_415): lambda: encoded("TIFF"),
    Sample("icon.ico", "an ICO image (not accepted)", 415, REFUSED_415): lambda: encoded("ICO"),
    Sample("empty.jpg", "zero bytes", 415, REFUSED_415): lambda: b"",
    Sample("archive.zip", "a ZIP holding shell.php", 415, REFUSED_415): zip_with_shell,
    Sample("document.pdf", "a PDF with an OpenAction script", 415, REFUSED_415): pdf,
    Sample("program.elf", "an ELF executable header", 415, REFUSED_415): elf,
    Sample("eicar-like.jpg", "EICAR-like test text", 415, REFUSED_415): lambda: EICAR_LIKE,
    Sample("jpeg-magic-html.jpg", "JPEG magic bytes, then HTML", 415, REFUSED_415): lambda: (
        b"\xff\xd8\xff\xe0" + HTML
    ),
    Sample("php-comment.jpg", "valid JPEG, <?php in a COM segment", 422, "embedded_content"): (
        lambda: with_segment(jpeg(904), 0xFE, PHP)
    ),
    Sample("php-trailer.jpg", "valid JPEG, <?php after EOI", 422, "embedded_content"): lambda: (
        jpeg(905) + PHP
    ),
    Sample(
        "php-xmp.jpg",
        "valid JPEG, <?php in XMP, sent as x.jpg.php (double extension)",
        422,
        "embedded_content",
        "x.jpg.php",
        "application/x-php",
    ): xmp_with_php,
    Sample("html-comment.jpg", "valid JPEG, <html>/<script> in COM", 422, "embedded_content"): (
        lambda: with_segment(jpeg(906), 0xFE, HTML)
    ),
    Sample("script-exif.jpg", "valid JPEG, <script> in EXIF text tags", 422, "embedded_content"): (
        lambda: encoded("JPEG", exif=exif_text(description="<script>alert(1)</script>", artist="x"))
    ),
    Sample("zip-polyglot.jpg", "valid JPEG with a ZIP appended", 422, "embedded_content"): (
        lambda: jpeg(907) + zip_with_shell()
    ),
    Sample(
        "script-text.png", "valid PNG, <script> in a tEXt chunk", 422, "embedded_content"
    ): png_with_script_text,
    Sample("php-trailer.png", "valid PNG, <?php after IEND", 422, "embedded_content"): lambda: (
        png(908) + PHP
    ),
    Sample("php-exif.webp", "valid WebP, <?php in its EXIF chunk", 422, "embedded_content"): (
        lambda: encoded("WEBP", exif=exif_text(description=PHP.decode()))
    ),
    Sample("truncated.jpg", "a JPEG cut in half", 422, "corrupt_image"): lambda: jpeg(909)[
        : len(jpeg(909)) // 2
    ],
    Sample("truncated.png", "a PNG cut in half", 422, "corrupt_image"): lambda: png(910)[
        : len(png(910)) // 2
    ],
    Sample("truncated.webp", "a WebP cut in half (Pillow cannot open it)", 415, REFUSED_415): (
        lambda: webp(911)[: len(webp(911)) // 2]
    ),
    Sample("bomb.png", "a PNG header claiming 100000 x 100000", 422, "too_many_pixels"): lambda: (
        png_claiming(100_000, 100_000)
    ),
    Sample("zeros-bomb.png", "a real 8000 x 8000 PNG of zeros (8 KB)", 422, "too_many_pixels"): (
        one_bit_bomb
    ),
    Sample("absurd.jpg", "a JPEG frame header claiming 65000 x 65000", 422, "too_many_pixels"): (
        absurd_jpeg
    ),
    Sample("huge-exif.jpg", "320 KB of EXIF around a tiny JPEG", 422, "too_much_metadata"): (
        huge_exif
    ),
    Sample(
        "traversal.jpg",
        "a clean JPEG sent as ../../../../etc/cron.d/photo.jpg: accepted, stored by digest only",
        201,
        None,
        "../../../../etc/cron.d/photo.jpg",
    ): lambda: jpeg(912),
    Sample(
        "clean-as-php.png",
        "a clean PNG sent as shell.php, application/x-php: accepted as image/png",
        201,
        None,
        "shell.php",
        "application/x-php",
    ): lambda: png(913),
}

README_HEAD = """# Hostile upload corpus

Files a hostile client might upload as a "photo" (OWASP File Upload cheat sheet). Every file
whose expected status is 413, 415 or 422 must be refused with that status and error code and
leave nothing behind: no object in the bucket, no event in the log. The two 201 files are clean
images sent under a hostile name or declared type; they are accepted and stored under the
digest of their bytes only. Tests: `tests/integration/test_hostile_uploads.py` (the photos
service) and `tests/e2e/test_hostile_uploads_gateway.py` (through the gateway).

`make_corpus.py` made these files (`.venv/bin/python -m tests.hostile.make_corpus`);
`manifest.json` holds the table below for the tests. `huge-exif.jpg` is 320 KB of mostly zero
bytes, which git stores compressed.

| file | what it is | sent as | declared type | expected |
|---|---|---|---|---|
"""


def main() -> None:
    FILES.mkdir(exist_ok=True)
    rows = []
    for sample, make in SAMPLES.items():
        (FILES / sample.file).write_bytes(make())
        expected = f"{sample.status} `{sample.code}`" if sample.code else str(sample.status)
        name = sample.upload_name.replace("|", "\\|")
        rows.append(
            f"| `{sample.file}` | {sample.what.replace('<', '&lt;')} | `{name}` "
            f"| `{sample.declared_type}` | {expected} |"
        )
    manifest = [asdict(sample) for sample in SAMPLES]
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (HERE / "README.md").write_text(README_HEAD + "\n".join(rows) + "\n")
    print(f"{len(SAMPLES)} samples in {FILES}")


if __name__ == "__main__":
    main()
