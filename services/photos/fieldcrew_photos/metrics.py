"""The photos service's own metrics (beside the shared ones in :mod:`fieldcrew_shared.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter

STORED_BYTES = Counter(
    "fieldcrew_photos_stored_bytes",
    "Bytes written to the photo bucket (originals and the copies served to clients)",
)
REJECTED = Counter(
    "fieldcrew_photos_rejected",
    "Uploads refused for what was sent, by reason (the error code the client got: too_large,"
    " unsupported_media_type, corrupt_image, too_many_pixels, too_much_metadata,"
    " embedded_content, invalid)",
    ["reason"],
)
