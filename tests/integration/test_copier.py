"""The processes that make a photo's copies (docs/adr/0069): apart from the test's own, at a
lower CPU priority, reading the original from the bucket themselves, and started again when
one dies."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator

import psutil
import pytest
from fieldcrew_photos.config import Settings
from fieldcrew_photos.copier import Copier, CopierDiedError
from fieldcrew_photos.rendition import DigestMismatchError
from fieldcrew_photos.storage import MissingObjectError, PhotoStorage, http_pool, object_key
from PIL import Image

from tests.images import heic, jpeg

NICE = 7


@pytest.fixture(scope="module")
async def settings(settings_env: dict[str, str]) -> Settings:
    """The test session's bucket, made ready for writes as the service makes it at start."""
    made = Settings(rendition_nice=NICE, served_max_side=100, thumbnail_side=32)  # type: ignore[call-arg]
    storage = PhotoStorage.from_settings(made, http_pool(made.backend_timeout))
    try:
        await storage.ensure_bucket()
    finally:
        storage.close()
    return made


@pytest.fixture
def copier(settings: Settings) -> Iterator[Copier]:
    made = Copier(settings)
    yield made
    made.close()


@pytest.fixture
async def storage(settings: Settings) -> AsyncIterator[PhotoStorage]:
    made = PhotoStorage.from_settings(settings, http_pool(settings.backend_timeout))
    yield made
    made.close()


async def stored(storage: PhotoStorage, photo: bytes) -> tuple[str, str]:
    """``photo`` stored as an upload stores it: (its key, its sha256)."""
    sha256 = hashlib.sha256(photo).hexdigest()
    await storage.put(object_key(sha256), photo, "image/jpeg")
    return object_key(sha256), sha256


def children() -> set[int]:
    """This process's copier children (the spawn start method's worker processes) that are
    running, not those of an earlier test, ending."""
    found = set()
    for child in psutil.Process().children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.Error:  # ended (a zombie until reaped), or gone
            continue
    return found


async def made_by(
    copier: Copier, storage: PhotoStorage, photo: bytes
) -> tuple[Image.Image, set[int]]:
    before = children()
    made = await copier.make(*await stored(storage, photo))
    return Image.open(io.BytesIO(made.served.data)), children() - before


async def test_copies_are_made_in_a_child_process_at_a_lower_priority(
    copier: Copier, storage: PhotoStorage
) -> None:
    served, new = await made_by(copier, storage, jpeg(1, (400, 300)))
    assert served.format == "JPEG" and served.size == (100, 75)
    assert len(new) == 1
    assert psutil.Process(new.pop()).nice() == os.nice(0) + NICE


async def test_a_heic_photo_is_read_in_the_child_too(copier: Copier, storage: PhotoStorage) -> None:
    served, _ = await made_by(copier, storage, heic(2, (120, 90)))
    assert served.format == "JPEG" and served.size == (100, 75)


async def test_bytes_that_are_not_the_upload_are_refused_with_the_reason(
    copier: Copier, storage: PhotoStorage
) -> None:
    key, _ = await stored(storage, jpeg(3))
    with pytest.raises(DigestMismatchError, match="does not match its sha256"):
        await copier.make(key, hashlib.sha256(b"other bytes").hexdigest())


async def test_a_missing_original_is_refused_as_missing(copier: Copier) -> None:
    sha256 = hashlib.sha256(b"never stored " + os.urandom(8)).hexdigest()
    with pytest.raises(MissingObjectError, match="no object"):
        await copier.make(object_key(sha256), sha256)


async def test_a_killed_child_fails_its_photo_and_the_next_photo_gets_a_new_one(
    copier: Copier, storage: PhotoStorage
) -> None:
    _, first = await made_by(copier, storage, jpeg(4))
    (child,) = first
    os.kill(child, signal.SIGKILL)  # it never runs again, so it cannot answer the next photo
    with pytest.raises(CopierDiedError, match="died"):
        await copier.make(*await stored(storage, jpeg(5)))
    served, second = await made_by(copier, storage, jpeg(6, (200, 100)))
    assert served.size == (100, 50)
    assert second and child not in second


CHILD_OF_A_SERVICE = """
import asyncio, hashlib, signal
from fieldcrew_photos.config import Settings
from fieldcrew_photos.copier import Copier
from fieldcrew_photos.storage import PhotoStorage, http_pool, object_key
from tests.images import jpeg

async def main() -> None:
    settings = Settings()
    storage = PhotoStorage.from_settings(settings, http_pool(settings.backend_timeout))
    sha256 = hashlib.sha256(jpeg(1)).hexdigest()
    await storage.put(object_key(sha256), jpeg(1), "image/jpeg")
    await Copier(settings).make(object_key(sha256), sha256)
    print("made", flush=True)
    signal.pause()  # serving, until the test kills it

asyncio.run(main())
"""


async def test_the_children_of_a_killed_service_end_with_it(settings: Settings) -> None:
    service = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD_OF_A_SERVICE, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert service.stdout is not None
        assert await service.stdout.readline() == b"made\n"
        descendants = psutil.Process(service.pid).children(recursive=True)
        assert any("spawn_main" in " ".join(p.cmdline()) for p in descendants)
    finally:
        service.kill()
        await service.wait()
    _, alive = psutil.wait_procs(descendants, timeout=10)
    assert not alive, [p.cmdline() for p in alive]
