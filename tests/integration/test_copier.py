"""The processes that make a photo's copies (docs/adr/0069): apart from the test's own, at a
lower CPU priority, and started again when one dies."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest
from fieldcrew_photos.copier import Copier, CopierDiedError
from fieldcrew_photos.rendition import DigestMismatchError
from PIL import Image

from tests.images import heic, jpeg

NICE = 7


@pytest.fixture
def copier() -> Iterator[Copier]:
    made = Copier(1, nice=NICE, served_max_side=100, thumbnail_side=32)
    yield made
    made.close()


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


async def made_by(copier: Copier, photo: bytes) -> tuple[Image.Image, set[int]]:
    before = children()
    made = await copier.make(photo, hashlib.sha256(photo).hexdigest())
    return Image.open(io.BytesIO(made.served.data)), children() - before


async def test_copies_are_made_in_a_child_process_at_a_lower_priority(copier: Copier) -> None:
    served, new = await made_by(copier, jpeg(1, (400, 300)))
    assert served.format == "JPEG" and served.size == (100, 75)
    assert len(new) == 1
    assert psutil.Process(new.pop()).nice() == os.nice(0) + NICE


async def test_a_heic_photo_is_read_in_the_child_too(copier: Copier) -> None:
    served, _ = await made_by(copier, heic(2, (120, 90)))
    assert served.format == "JPEG" and served.size == (100, 75)


async def test_bytes_that_are_not_the_upload_are_refused_with_the_reason(copier: Copier) -> None:
    photo = jpeg(3)
    with pytest.raises(DigestMismatchError, match="does not match its sha256"):
        await copier.make(photo, hashlib.sha256(b"other bytes").hexdigest())


async def test_a_killed_child_fails_its_photo_and_the_next_photo_gets_a_new_one(
    copier: Copier,
) -> None:
    _, first = await made_by(copier, jpeg(4))
    (child,) = first
    os.kill(child, signal.SIGKILL)  # it never runs again, so it cannot answer the next photo
    with pytest.raises(CopierDiedError, match="died"):
        await copier.make(jpeg(5), hashlib.sha256(jpeg(5)).hexdigest())
    served, second = await made_by(copier, jpeg(6, (200, 100)))
    assert served.size == (100, 50)
    assert second and child not in second


CHILD_OF_A_SERVICE = """
import asyncio, hashlib, sys, time
from fieldcrew_photos.copier import Copier
from tests.images import jpeg

async def main() -> None:
    copier = Copier(1, nice=0, served_max_side=100, thumbnail_side=32)
    await copier.make(jpeg(1), hashlib.sha256(jpeg(1)).hexdigest())
    print("made", flush=True)
    time.sleep(120)

asyncio.run(main())
"""


def test_the_children_of_a_killed_service_end_with_it() -> None:
    service = subprocess.Popen(
        [sys.executable, "-c", CHILD_OF_A_SERVICE], stdout=subprocess.PIPE, text=True
    )
    try:
        assert service.stdout is not None and service.stdout.readline() == "made\n"
        descendants = psutil.Process(service.pid).children(recursive=True)
        assert any("spawn_main" in " ".join(p.cmdline()) for p in descendants)
    finally:
        service.kill()
        service.wait()
    _, alive = psutil.wait_procs(descendants, timeout=10)
    assert not alive, [p.cmdline() for p in alive]
