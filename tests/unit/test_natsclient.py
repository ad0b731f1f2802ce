"""The client's quicker header parser answers exactly what nats-py's does, and is used."""

from __future__ import annotations

import random

import pytest
from fieldcrew_shared import natsclient
from fieldcrew_shared.natsclient import Client, parse_header_lines
from nats.aio.client import Client as NATS

DIRECT_GET = (
    b"Nats-Stream: FIELDCREW\r\n"
    b"Nats-Subject: fieldcrew.team.0f8c3b1e-8a7c-4d9e-9b1a-2c3d4e5f6a7b.note.7e6d5c4b\r\n"
    b"Nats-Sequence: 123456\r\n"
    b"Nats-Time-Stamp: 2026-11-28T04:40:00.123456789Z\r\n"
    b"Nats-Num-Pending: 4\r\n"
    b"Nats-Last-Sequence: 123450\r\n"
    b"Nats-Msg-Id: 0f8c3b1e-8a7c-4d9e-9b1a-2c3d4e5f6a7b\r\n\r\n"
)

ODD = [
    DIRECT_GET,
    b"",
    b"\r\n",
    b"Name:Value\r\n",  # no space after the colon
    b"Name:\tValue  \r\n",
    b"  Name  :  a: b : c \r\n",  # the value keeps its colons
    b"A: 1\r\nA: 2\r\n",  # the later line wins
    b"No colon here\r\nB: 2\r\n",
    b"Two words: x\r\nC: 3\r\n",  # whitespace inside a name: skipped
    b"\x1cD: 4\r\n",  # \x1c is str whitespace but bytes.strip keeps it: skipped
    b"E: v\x1c\r\n",  # ... and kept at the end of a value
    b": empty name\r\n",
    b"F: \r\n",
    b"G: lone\rcr\r\nH: lone\nlf\r\n",
    b"I: caf\xc3\xa9\r\n",  # UTF-8 value
    b"J\xc3\xa9: name not ASCII\r\nK: 5\r\n",
    b"L: \xff\xfe broken UTF-8\r\n",
    b"M: no line end",
]


@pytest.mark.parametrize("raw", ODD)
def test_known_blocks_parse_as_nats_py_parses_them(raw: bytes) -> None:
    assert parse_header_lines(raw) == NATS._parse_header_lines(raw)


def test_a_direct_get_block() -> None:
    parsed = parse_header_lines(DIRECT_GET)
    assert parsed["Nats-Sequence"] == "123456"
    assert parsed["Nats-Subject"].startswith("fieldcrew.team.")
    assert len(parsed) == 7


def test_random_blocks_parse_as_nats_py_parses_them() -> None:
    """Blocks of names, values, every kind of whitespace and line end, colons and non-ASCII
    bytes, put together at random (seeded): not one answer may differ."""
    pieces = [b" ", b"\t", b"\x0b", b"\x0c", b"\x1c", b"\x1f", b":", b"a", b"B", b"-", b"1",
              b"\r\n", b"\r\n", b"\r\n", b"\r", b"\n", b"\xc3\xa9", b"\x85", b"\xa0",
              b"\xff"]  # fmt: skip
    ascii_only = [p for p in pieces if p.isascii()]
    rng = random.Random(4)
    for n in range(50_000):
        choices = ascii_only if n % 2 else pieces  # half take the quick path throughout
        raw = b"".join(rng.choice(choices) for _ in range(rng.randrange(40)))
        assert parse_header_lines(raw) == NATS._parse_header_lines(raw), raw


async def test_the_client_parses_headers_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """nats-py reaches the parser through ``self._parse_header_lines``: if a new nats-py
    stopped doing so, the override would be dead and this fails."""
    seen: list[bytes] = []

    def spy(raw: bytes) -> dict[str, str]:
        seen.append(raw)
        return parse_header_lines(raw)

    monkeypatch.setattr(natsclient, "parse_header_lines", spy)
    headers = await Client()._process_headers(b"NATS/1.0\r\n" + DIRECT_GET)
    assert seen == [DIRECT_GET]
    assert headers == NATS._parse_header_lines(DIRECT_GET)
