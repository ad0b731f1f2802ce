"""The hostile upload corpus: files a hostile client might send as a photo, and the answer
each must get. ``corpus()`` reads ``manifest.json``; ``make_corpus.py`` wrote both."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
FILES = HERE / "corpus"
REFUSALS = frozenset({413, 415, 422})


@dataclass(frozen=True)
class Sample:
    """One corpus file, how a client sends it, and the answer expected."""

    file: str
    what: str
    status: int
    code: str | None
    upload_name: str = "photo.jpg"
    declared_type: str = "image/jpeg"

    @property
    def data(self) -> bytes:
        return (FILES / self.file).read_bytes()

    @property
    def refused(self) -> bool:
        return self.status in REFUSALS


def corpus() -> list[Sample]:
    """Every sample of ``manifest.json``, in its order."""
    return [Sample(**entry) for entry in json.loads((HERE / "manifest.json").read_text())]
