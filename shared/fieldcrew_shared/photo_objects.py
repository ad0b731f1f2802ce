"""Where a photo's objects live in the photo bucket: the contract between the photos service,
which writes them, and the documents service, which reads the served copies (read-only).

Every key is named by the sha256 of the uploaded bytes, never by anything a client sent.
"""

from __future__ import annotations


def object_key(sha256: str) -> str:
    """Where the uploaded bytes with this digest live (evidence, never served)."""
    return f"sha256/{sha256[:2]}/{sha256}"


def served_key(sha256: str) -> str:
    """Where the re-encoded copy of the upload with this digest lives (served to clients)."""
    return f"served/{sha256}.jpg"


def thumbnail_key(sha256: str) -> str:
    """Where the small re-encoded copy (about 320 px) of the upload lives."""
    return f"thumbnails/{sha256}.jpg"
