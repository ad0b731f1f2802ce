"""Share links' rules and tokens: given the log, when a command or a token, then events or
the refusal."""

from __future__ import annotations

import base64
from datetime import timedelta
from uuid import uuid4

import pytest
from fieldcrew_documents.domain import (
    CreateShareLink,
    Links,
    RevokeShareLink,
    decide_create,
    decide_revoke,
    decide_view,
    evolve,
)
from fieldcrew_documents.links import new_token, parse_token
from fieldcrew_shared.errors import (
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidCommandError,
    NotFoundError,
)
from fieldcrew_shared.events import SharedView, ShareLinkCreated, ShareLinkRevoked, ShareLinkViewed

from tests.unit.factories import T0, at, issued

WO = uuid4()


def create(
    role: str = "dispatcher", hours: int = 24, revision: int | None = None
) -> CreateShareLink:
    _, named = new_token(WO)
    return CreateShareLink(
        WO, named.link_id, named.secret_sha256, hours, revision, "dora", role, T0
    )


def made(
    cmd: CreateShareLink, revisions: list[int] | None = None
) -> tuple[Links, ShareLinkCreated]:
    (event,) = decide_create(issued(WO), revisions or [1, 2], cmd)
    assert isinstance(event, ShareLinkCreated)
    return evolve({}, event, at(0)), event


def test_a_dispatcher_shares_the_newest_revision_unless_told() -> None:
    _, event = made(create())
    assert (event.revision, event.expires_at, event.created_by) == (
        2,
        T0 + timedelta(hours=24),
        "dora",
    )
    _, event = made(create(revision=1, hours=720))
    assert (event.revision, event.expires_at) == (1, T0 + timedelta(days=30))


@pytest.mark.parametrize(
    ("work_order", "revisions", "cmd", "error"),
    [
        (None, [1], create(), NotFoundError),
        (issued(WO), [1], create(role="technician"), ForbiddenError),
        (issued(WO), [1], create(role="analyst"), ForbiddenError),
        (issued(WO), [], create(), ConflictError),
        (issued(WO), [1], create(revision=2), NotFoundError),
        (issued(WO), [1], create(hours=721), InvalidCommandError),
        (issued(WO), [1], create(hours=0), InvalidCommandError),
    ],
)
def test_what_cannot_be_shared(work_order, revisions, cmd, error) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error):
        decide_create(work_order, revisions, cmd)


def test_a_link_opens_until_it_expires_or_is_revoked() -> None:
    cmd = create(hours=1)
    links, _ = made(cmd)
    link, events = decide_view(links, cmd.link_id, cmd.secret_sha256, at(59), SharedView.page)
    assert link.revision == 2 and events == [
        ShareLinkViewed(work_order_id=WO, link_id=cmd.link_id, view=SharedView.page)
    ]
    evolve(links, events[0], at(59))
    assert links[cmd.link_id].views == 1
    with pytest.raises(GoneError, match="expired"):
        decide_view(links, cmd.link_id, cmd.secret_sha256, at(60), SharedView.pdf)
    revoke = RevokeShareLink(WO, cmd.link_id, "dora", "admin")
    (revoked,) = decide_revoke(issued(WO), links, revoke)
    assert isinstance(revoked, ShareLinkRevoked)
    evolve(links, revoked, at(10))
    with pytest.raises(GoneError, match="revoked"):
        decide_view(links, cmd.link_id, cmd.secret_sha256, at(11), SharedView.page)
    assert decide_revoke(issued(WO), links, revoke) == []  # a retried DELETE changes nothing


def test_a_wrong_secret_or_link_opens_nothing_and_only_the_office_revokes() -> None:
    cmd = create()
    links, _ = made(cmd)
    with pytest.raises(NotFoundError):
        decide_view(links, cmd.link_id, "0" * 64, at(1), SharedView.page)
    with pytest.raises(NotFoundError):
        decide_view(links, uuid4(), cmd.secret_sha256, at(1), SharedView.page)
    with pytest.raises(ForbiddenError):
        decide_revoke(issued(WO), links, RevokeShareLink(WO, cmd.link_id, "lena", "technician"))
    with pytest.raises(NotFoundError):
        decide_revoke(issued(WO), links, RevokeShareLink(WO, uuid4(), "dora", "dispatcher"))
    with pytest.raises(NotFoundError):
        decide_revoke(None, links, RevokeShareLink(WO, cmd.link_id, "lena", "technician"))


def test_tokens_carry_256_random_bits_and_name_their_link() -> None:
    token, named = new_token(WO)
    other, _ = new_token(WO)
    raw = base64.urlsafe_b64decode(token + "==")
    assert len(token) == 86 and token != other and raw[:16] == WO.bytes
    assert len(raw[32:]) * 8 == 256 and named.secret_sha256 not in token
    assert parse_token(token) == named
    flipped = base64.urlsafe_b64encode(raw[:40] + bytes([raw[40] ^ 1]) + raw[41:]).decode()
    assert parse_token(flipped.rstrip("=")).secret_sha256 != named.secret_sha256
    assert parse_token(flipped.rstrip("=")).link_id == named.link_id


@pytest.mark.parametrize("bad", ["", "a" * 85, "a" * 87, "é" * 86, "!" * 86, "A" * 85 + "B"])
def test_malformed_tokens_are_unknown_links(bad: str) -> None:
    with pytest.raises(NotFoundError):
        parse_token(bad)
