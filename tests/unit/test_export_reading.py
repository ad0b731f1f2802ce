"""The export reads a pushed message's position from its reply subject as nats-py does."""

from __future__ import annotations

from typing import Any

import pytest
from fieldcrew_cli.export.reading import _position
from nats.aio.msg import Msg

REPLIES = [
    "$JS.ACK.FIELDCREW.abc123.1.4567.4567.1733456789000000000.0",
    "$JS.ACK.FIELDCREW.abc123.1.12.3.1733456789000000000.98765",
    # with a JetStream domain and an account hash: the other form, through msg.metadata
    "$JS.ACK.hub.ACCHASH.FIELDCREW.abc123.1.4567.4567.1733456789000000000.31.rnd",
]


@pytest.mark.parametrize("reply", REPLIES)
def test_the_position_is_the_one_nats_py_reads(reply: str) -> None:
    client: Any = None
    msg = Msg(_client=client, subject="fieldcrew.team.x", reply=reply)
    meta = msg.metadata
    assert _position(msg) == (meta.sequence.stream, meta.num_pending)
