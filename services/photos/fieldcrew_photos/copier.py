"""Where a photo's copies are made: child processes of the photos service, at a lower CPU
priority than its API (docs/adr/0069-copies-made-in-lower-priority-processes.md).

Making the copies of a 12 MP photo (a full decode, the resize, two JPEG encodes) takes more
CPU than checking and storing it. Made in the API's own process, that work took the cores
from the uploads in flight, and its Python parts held the lock the event loop needs. In child
processes at a nice increment the kernel serves uploads first and gives the copies whatever
CPU is left; on an idle machine the increment costs nothing.

A child reads the original from S3 itself, with the service's settings, so that only the
key goes down the pipe and only the copies come back.

A child that dies (killed, out of memory, a decoder that crashes on a hostile file) takes
only the photo it was making with it: the pool is started again, and that photo's try fails
like any other failure of its own (:class:`CopierDiedError`), so it is retried and, if it
keeps killing its process, dead-lettered. A service that dies takes its children with it:
each watches its parent and exits when it is gone (the pool's own queue would not tell it).
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from fieldcrew_photos import rendition
from fieldcrew_photos.config import Settings
from fieldcrew_photos.storage import PhotoStorage, http_pool

_storage: PhotoStorage | None = None  # in a child: its own client of the photo bucket


class CopierDiedError(RuntimeError):
    """The process making a photo's copies died before it answered."""


def _start_child(settings: Settings) -> None:
    """In each child, once: lower its priority, follow its parent, connect to the bucket,
    and learn HEIC (pillow-heif registers on import of the imaging module)."""
    global _storage
    if settings.rendition_nice:
        os.nice(settings.rendition_nice)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_after, args=(parent,), daemon=True).start()
    from fieldcrew_photos import imaging  # noqa: F401

    _storage = PhotoStorage.from_settings(settings, http_pool(settings.backend_timeout))


def _copies(
    key: str, sha256: str, served_max_side: int, thumbnail_side: int
) -> rendition.Renditions:
    """In a child: the original read from the bucket, checked and copied."""
    assert _storage is not None, "the child was started without its storage"
    return rendition.copies_of(
        _storage.read(key), sha256, served_max_side=served_max_side, thumbnail_side=thumbnail_side
    )


def _exit_after(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns once the parent has ended, however it ended
    os._exit(1)


class Copier:
    """``settings.rendition_lanes`` children, each making one photo's copies at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the API's process has threads and an event loop a fork would copy
        return ProcessPoolExecutor(
            self.settings.rendition_lanes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_child,
            initargs=(self.settings,),
        )

    async def make(self, key: str, sha256: str) -> rendition.Renditions:
        """The copies of the original stored under ``key`` once it matches ``sha256``; what
        reading or making them raised (MissingObjectError, BackendUnavailableError,
        :class:`rendition.DigestMismatchError`, Pillow's errors), or CopierDiedError."""
        pool = self._pool
        sides = (self.settings.served_max_side, self.settings.thumbnail_side)
        job = functools.partial(_copies, key, sha256, *sides)
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, job)
        except BrokenProcessPool as exc:
            if self._pool is pool:  # the first to see it starts the pool again
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._start()
            raise CopierDiedError("the process making the copies died") from exc

    def close(self) -> None:
        """Stop the children once they finish what they are making; nothing new starts."""
        self._pool.shutdown(wait=False, cancel_futures=True)
