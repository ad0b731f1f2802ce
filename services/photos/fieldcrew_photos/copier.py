"""Where a photo's copies are made: child processes of the photos service, at a lower CPU
priority than its API (docs/adr/0069-copies-made-in-lower-priority-processes.md).

Making the copies of a 12 MP photo (a full decode, the resize, two JPEG encodes) takes more
CPU than checking and storing it. Made in the API's own process, that work took the cores
from the uploads in flight, and its Python parts held the lock the event loop needs. In child
processes at a nice increment the kernel serves uploads first and gives the copies whatever
CPU is left; on an idle machine the increment costs nothing.

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


class CopierDiedError(RuntimeError):
    """The process making a photo's copies died before it answered."""


def _start_child(nice: int) -> None:
    """In each child, once: lower its priority, follow its parent, and learn HEIC
    (pillow-heif registers on import of the imaging module, as in the API's process)."""
    if nice:
        os.nice(nice)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_after, args=(parent,), daemon=True).start()
    from fieldcrew_photos import imaging  # noqa: F401


def _exit_after(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns once the parent has ended, however it ended
    os._exit(1)


class Copier:
    """``processes`` children, each making one photo's copies at a time."""

    def __init__(
        self, processes: int, *, nice: int, served_max_side: int, thumbnail_side: int
    ) -> None:
        self.processes, self.nice = processes, nice
        self.served_max_side, self.thumbnail_side = served_max_side, thumbnail_side
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the API's process has threads and an event loop a fork would copy
        return ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_child,
            initargs=(self.nice,),
        )

    async def make(self, original: bytes, sha256: str) -> rendition.Renditions:
        """The copies of ``original`` once it matches ``sha256``; what the making raised
        (:class:`rendition.DigestMismatchError`, Pillow's errors), or CopierDiedError."""
        pool = self._pool
        job = functools.partial(
            rendition.copies_of,
            original,
            sha256,
            served_max_side=self.served_max_side,
            thumbnail_side=self.thumbnail_side,
        )
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
