"""The photo bucket in S3-compatible object storage (MinIO, SeaweedFS, AWS S3).

Three objects per distinct image, all named by the sha256 of the uploaded bytes, never by
anything the client sent: the original, kept unaltered as evidence under
``sha256/<first two hex digits>/<sha256>`` (stored by the upload), and the re-encoded copy
served to clients under ``served/<sha256>.jpg`` with its thumbnail under
``thumbnails/<sha256>.jpg`` (made after the upload by the rendition worker). The same bytes are
stored once, whoever sends them, for every work order (a second upload of them writes the same
bytes to the same key again).

The bucket is private and only this service holds credentials for it; at start the service
checks it may write there (``fieldcrew/write-check``, two bytes). Clients get presigned
GET URLs of one served copy or thumbnail, valid at most five minutes; no URL for the original and no
presigned PUT is ever made. :meth:`PhotoStorage.ensure_bucket` refuses to run on a bucket that
answers anonymous requests. The ``minio`` SDK is synchronous, so each network call runs in a
worker thread of the storage's own pool (a hung S3 holds those threads, not the ones images
are checked in), and its errors become :class:`BackendUnavailableError`. Every socket
operation is bounded (:func:`http_pool`), so a stopped or hung S3 is a 503 within seconds.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TypeVar

import urllib3
from fieldcrew_shared.errors import BackendUnavailableError, FieldcrewError
from fieldcrew_shared.photo_objects import object_key, served_key, thumbnail_key
from minio import Minio
from minio.error import MinioException, S3Error
from minio.helpers import MAX_PART_SIZE, MIN_PART_SIZE

from fieldcrew_photos.config import Settings
from fieldcrew_photos.metrics import STORED_BYTES

T = TypeVar("T")
__all__ = [
    "BucketExposedError",
    "MissingObjectError",
    "PhotoStorage",
    "http_pool",
    "object_key",
    "served_key",
    "thumbnail_key",
]

_ALREADY_THERE = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})
_FAILURES = (MinioException, urllib3.exceptions.HTTPError, OSError)
S3_THREADS = 16  # S3 calls at once per process; more wait their turn
WRITE_CHECK_KEY = "fieldcrew/write-check"
WRITE_CHECK_BODY = b"ok"  # not empty: SeaweedFS keeps an empty object without a volume
WRITE_CHECK_TRIES = 5


_NEVER_STORED = "0" * 64  # a digest no upload has: probes name objects that do not exist
_ANONYMOUS_ALLOWED = (200, 204, 206, 404)  # 404: the anonymous caller got past authorization


class BucketExposedError(FieldcrewError):
    """The photo bucket answers requests without credentials; the service refuses to start."""

    code = "bucket_exposed"


class MissingObjectError(FieldcrewError):
    """An object the log names is not in the bucket."""

    code = "missing_object"


class PhotoStorage:
    """Puts, reads and signs photo objects in one private bucket."""

    def __init__(
        self,
        client: Minio,
        bucket: str,
        *,
        region: str,
        url_ttl: timedelta,
        endpoint_url: str,
        http: urllib3.PoolManager,
        threads: ThreadPoolExecutor | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.region = region
        self.url_ttl = url_ttl
        self.endpoint_url = endpoint_url.rstrip("/")
        self.http = http
        self.threads = threads or ThreadPoolExecutor(S3_THREADS, thread_name_prefix="s3")

    @classmethod
    def from_settings(cls, settings: Settings, http: urllib3.PoolManager) -> PhotoStorage:
        """A client of ``settings.s3_endpoint`` that sends its requests through ``http``."""
        client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            secure=settings.s3_secure,
            region=settings.s3_region,  # a known region: presigning needs no round trip
            http_client=http,
        )
        scheme = "https" if settings.s3_secure else "http"
        return cls(
            client,
            settings.bucket,
            region=settings.s3_region,
            url_ttl=timedelta(seconds=settings.url_ttl_seconds),
            endpoint_url=f"{scheme}://{settings.s3_endpoint}",
            http=http,
        )

    async def ensure_bucket(self) -> None:
        """Create the bucket (private, as every new bucket) when it does not exist yet, then
        check that it is private: BucketExposedError when anonymous requests get through."""
        await self._call("create the photo bucket", self._ensure_bucket)
        exposed = await self._call("check the photo bucket is private", self._anonymous_probes)
        if exposed:
            raise BucketExposedError(
                f"bucket {self.bucket} answers anonymous requests ({', '.join(exposed)}): "
                "remove its public policy or anonymous identity"
            )
        await self._check_writes()

    async def _check_writes(self) -> None:
        """Store one small object: a bucket this service may not write to is found at start,
        not at a crew member's first photo; and a fresh bucket's first write, when SeaweedFS
        lays out its volumes (~5 s on a busy machine, longer than a call may take), is paid
        here. Tried again while it times out."""
        for attempt in range(1, WRITE_CHECK_TRIES + 1):
            try:
                await self._call("check the photo bucket takes writes", self._put,
                                 WRITE_CHECK_KEY, WRITE_CHECK_BODY, "text/plain")  # fmt: skip
                return
            except BackendUnavailableError:
                if attempt == WRITE_CHECK_TRIES:
                    raise

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``; returns only once the store acknowledged the write
        (S3: durable on 200). Keys are content addressed (the server's sha256 of the bytes),
        so writing a key again writes the same bytes: no lookup first (it was a round trip
        more for every new photo, bench/README.md)."""
        await self._call("store a photo", self._put, key, data, content_type)
        STORED_BYTES.inc(len(data))

    async def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; MissingObjectError when there are none."""
        return await asyncio.get_running_loop().run_in_executor(self.threads, self.read, key)

    def read(self, key: str) -> bytes:
        """:meth:`get` in the calling thread (a process of its own has no event loop)."""
        try:
            return self._get(key)
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                raise MissingObjectError(f"no object {key} in the photo bucket") from exc
            raise BackendUnavailableError("object storage failed to read a photo") from exc
        except _FAILURES as exc:
            raise BackendUnavailableError("object storage failed to read a photo") from exc

    async def ready(self) -> dict[str, str]:
        """Readiness: the bucket answers an authenticated request."""
        if not await self._call("find the photo bucket", self.client.bucket_exists, self.bucket):
            raise BackendUnavailableError(f"bucket {self.bucket} does not exist")
        return {"bucket": self.bucket}

    def close(self) -> None:
        """Let go of the threads and connections (a call still running finishes on its own)."""
        self.threads.shutdown(wait=False, cancel_futures=True)
        self.http.clear()

    def url(self, key: str) -> str:
        """A presigned GET of the one object ``key``, valid for ``url_ttl``. Signed locally:
        no I/O. The signature covers the method, the key and the expiry."""
        return self.client.presigned_get_object(self.bucket, key, expires=self.url_ttl)

    async def _call(self, what: str, fn: Callable[..., T], *args: object) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self.threads, fn, *args)
        except _FAILURES as exc:
            raise BackendUnavailableError(f"object storage failed to {what}") from exc

    def _ensure_bucket(self) -> None:
        if self.client.bucket_exists(self.bucket):
            return
        try:
            self.client.make_bucket(self.bucket, location=self.region)
        except S3Error as exc:  # another replica created it first
            if exc.code not in _ALREADY_THERE:
                raise

    def _anonymous_probes(self) -> list[str]:
        """The unsigned requests (list; read an original, a served copy, a thumbnail) that the
        bucket did not refuse. Probed objects never exist, so a private bucket answers 403 and
        a readable one 404."""
        base = f"{self.endpoint_url}/{self.bucket}"
        probes = {
            "list objects": f"{base}?list-type=2&max-keys=1",
            "read an original": f"{base}/{object_key(_NEVER_STORED)}",
            "read a served copy": f"{base}/{served_key(_NEVER_STORED)}",
            "read a thumbnail": f"{base}/{thumbnail_key(_NEVER_STORED)}",
        }
        exposed = []
        for what, url in probes.items():
            answer = self.http.request("GET", url, retries=False, preload_content=True)
            if answer.status in _ANONYMOUS_ALLOWED:
                exposed.append(f"{what}: {answer.status}")
        return exposed

    def _get(self, key: str) -> bytes:
        response = self.client.get_object(self.bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def _put(self, key: str, data: bytes, content_type: str) -> None:
        # One part (a single PUT, atomic) up to the S3 limit of 5 GiB.
        part_size = min(max(len(data), MIN_PART_SIZE), MAX_PART_SIZE)
        self.client.put_object(
            self.bucket,
            key,
            io.BytesIO(data),
            length=len(data),
            content_type=content_type,
            part_size=part_size,
        )


def http_pool(timeout: float) -> urllib3.PoolManager:
    """The HTTP connections to object storage: fail fast when it is down or hung (a 503 to
    the client) rather than the SDK's default of five retries with five-minute timeouts.

    ``timeout`` bounds connecting and each socket read or write, not a whole call: a large
    photo on its way to S3 takes as long as it takes while it moves, and a stalled one fails
    after ``timeout``. A refused connection or an S3 that says it is busy is tried again
    twice; a read that timed out is not (each try would wait ``timeout`` again)."""
    retries = urllib3.Retry(
        total=2, connect=2, read=0, other=0, status=2, backoff_factor=0.2,
        status_forcelist=[500, 502, 503, 504],
    )  # fmt: skip
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout, read=timeout), maxsize=S3_THREADS, retries=retries
    )
