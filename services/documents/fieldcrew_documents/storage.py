"""The photo bucket, read-only: the served copies of photos, to print and to show a customer.

Only ``served/`` and ``thumbnails/`` objects are read (the copies the photos service made for
clients: re-encoded, no metadata); originals never are. The ``minio`` SDK is synchronous, so
each call runs in a worker thread; its failures become :class:`BackendUnavailableError`, and a
missing object is None (its copy is still being made).
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

import urllib3
from fieldcrew_shared.errors import BackendUnavailableError
from fieldcrew_shared.photo_objects import served_key, thumbnail_key
from minio import Minio
from minio.error import MinioException, S3Error
from PIL import Image

from fieldcrew_documents.config import Settings
from fieldcrew_documents.pdf import Printable

_FAILURES = (MinioException, urllib3.exceptions.HTTPError, OSError)
_ABSENT = frozenset({"NoSuchKey", "NoSuchObject"})
PRINT_QUALITY = 82


@dataclass(frozen=True)
class PhotoCopies:
    """Reads served copies and thumbnails from the photo bucket."""

    client: Minio
    bucket: str

    @classmethod
    def from_settings(cls, settings: Settings, http: urllib3.PoolManager) -> PhotoCopies:
        client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            secure=settings.s3_secure,
            region=settings.s3_region,
            http_client=http,
        )
        return cls(client, settings.bucket)

    async def ready(self) -> dict[str, str]:
        """Readiness: the photo bucket answers an authenticated request."""
        try:
            found = await asyncio.to_thread(self.client.bucket_exists, self.bucket)
        except _FAILURES as exc:
            raise BackendUnavailableError("object storage did not answer") from exc
        if not found:
            raise BackendUnavailableError(f"bucket {self.bucket} does not exist")
        return {"bucket": self.bucket}

    async def served(self, sha256: str) -> bytes | None:
        """The served copy (a metadata-free JPEG) of the photo, or None when not made yet."""
        return await asyncio.to_thread(self._get, served_key(sha256))

    async def thumbnail(self, sha256: str) -> bytes | None:
        """The thumbnail of the photo, or None when not made yet."""
        return await asyncio.to_thread(self._get, thumbnail_key(sha256))

    def _get(self, key: str) -> bytes | None:
        try:
            answer = self.client.get_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _ABSENT:
                return None
            raise BackendUnavailableError("object storage failed to read a photo") from exc
        except _FAILURES as exc:
            raise BackendUnavailableError("object storage failed to read a photo") from exc
        try:
            return answer.read()
        except _FAILURES as exc:
            raise BackendUnavailableError("object storage failed to read a photo") from exc
        finally:
            answer.close()
            answer.release_conn()


def printable(jpeg: bytes, max_side: int) -> Printable:
    """A served copy scaled to print (CPU work: run it in a worker thread). The served copy is
    already upright, RGB and metadata-free; a copy within ``max_side`` prints as it is."""
    with Image.open(io.BytesIO(jpeg), formats=["JPEG"]) as image:
        if max(image.size) <= max_side:
            return Printable(jpeg, *image.size)
        image.draft("RGB", (max_side, max_side))  # decode at a reduced scale
        image.thumbnail((max_side, max_side))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=PRINT_QUALITY)
        return Printable(buffer.getvalue(), *image.size)


def http_pool() -> urllib3.PoolManager:
    """Connections to object storage that fail fast when it is down (a 503 to the client)."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5, read=30),
        maxsize=10,
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )
