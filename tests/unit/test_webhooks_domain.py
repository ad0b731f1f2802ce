"""Webhook rules: who registers, what a registration must say, which events are sent, which
addresses may receive them (production refuses internal ones: SSRF), the retry schedule, and
the sealing of URL and secret. Pure."""

from __future__ import annotations

from uuid import uuid4

import pytest
from fieldcrew_aggregator.webhooks.domain import (
    RegisterWebhook,
    Retry,
    check_url,
    decide_register,
    public_address,
    wanted,
)
from fieldcrew_aggregator.webhooks.sealing import (
    Opened,
    Sealer,
    UnsealableError,
    WebhooksUnavailableError,
    new_secret,
)
from fieldcrew_shared.auth import Principal, Role
from fieldcrew_shared.errors import ForbiddenError, InvalidCommandError
from standardwebhooks import Webhook

NOTES = "fieldcrew.team.MemberNoteAdded.v1"


def command(role: Role = Role.admin, types: tuple[str, ...] = (NOTES,)) -> RegisterWebhook:
    url = "https://hooks.example.com/x"
    return RegisterWebhook(uuid4(), url, types, Principal(sub="ada", role=role))


def test_an_admin_registers_and_nobody_else() -> None:
    event = decide_register(command(), sealed="x")
    assert event.event_types == (NOTES,) and event.registered_by == "ada"
    assert event.subject == f"fieldcrew.aggregator.{event.webhook_id}.WebhookRegistered"
    for role in (Role.dispatcher, Role.technician, Role.analyst):
        with pytest.raises(ForbiddenError):
            decide_register(command(role), sealed="x")


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com", "https://", "example.com/hook", "https://u:p@example.com/",
     "https://example.com:0/", "https://example.com:99999/", "http://" + "a" * 2000 + ".com"],
)  # fmt: skip
def test_a_url_must_be_http_with_a_host_and_no_credentials(url: str) -> None:
    with pytest.raises(InvalidCommandError):
        check_url(url)


def test_types_must_be_known_and_star_stands_alone() -> None:
    for types in [(), ("nope",), ("*", NOTES), ("fieldcrew.aggregator.WebhookRegistered.v1",)]:
        with pytest.raises(InvalidCommandError):
            decide_register(command(types=types), sealed="x")
    assert decide_register(command(types=(NOTES, NOTES)), "x").event_types == (NOTES,)


def test_which_events_a_subscription_is_sent() -> None:
    assert wanted([NOTES], NOTES) and not wanted([NOTES], "fieldcrew.team.Other.v1")
    assert wanted(["*"], "fieldcrew.photos.PhotoUploaded.v1")
    assert not wanted(["*"], "fieldcrew.aggregator.WebhookRegistered.v1")  # others' hooks


def test_a_subscription_to_an_old_version_is_sent_the_new_one_its_readers_may_read() -> None:
    """A webhook registered for notes before version 2 keeps receiving them (ADR 0058); not a
    newer version that does not say version 1 readers may read it."""
    v1, v2 = "fieldcrew.team.MemberNoteAdded.v1", "fieldcrew.team.MemberNoteAdded.v2"
    assert wanted([v1], v2, readable_from=1) and wanted([v2], v2)
    assert not wanted([v1], v2) and not wanted([v1], v2, readable_from=2)
    assert not wanted([v2], v1, readable_from=1)  # an older one is not a newer one
    assert not wanted(["fieldcrew.team.Other.v1"], v2, readable_from=1)


@pytest.mark.parametrize(
    ("address", "public"),
    [("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.9", False), ("192.168.1.1", False),
     ("169.254.169.254", False), ("0.0.0.0", False), ("100.64.0.1", False), ("224.0.0.1", False),
     ("::1", False), ("fe80::1", False), ("fc00::1", False), ("::ffff:127.0.0.1", False),
     ("93.184.215.14", True), ("2606:4700::1111", True)],
)  # fmt: skip
def test_only_public_addresses_are_public(address: str, public: bool) -> None:
    assert public_address(address) is public


def test_retries_back_off_then_stop() -> None:
    retry = Retry(attempts=5, first=1.0, longest=5.0)
    assert [retry.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, None]


def test_a_sealed_registration_opens_only_with_its_key() -> None:
    opened = Opened(url="https://hooks.example.com/x", secret=new_secret())
    sealed = Sealer("the key " * 4).seal(opened)
    assert opened.url not in sealed and opened.secret not in sealed
    assert Sealer("the key " * 4).open(sealed) == opened
    with pytest.raises(UnsealableError):
        Sealer("another key " * 3).open(sealed)
    with pytest.raises(WebhooksUnavailableError):
        Sealer(None).seal(opened)
    Webhook(opened.secret)  # a secret Standard Webhooks takes
