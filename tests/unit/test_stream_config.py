"""The event log's stream configuration, checked field by field (pure: no server)."""

from __future__ import annotations

import pytest
from fieldcrew_shared.natsclient import server_list
from fieldcrew_shared.stream import SUBJECTS, describe, desired_config, problems
from nats.js import api


def test_the_stream_fieldcrew_creates_keeps_every_event() -> None:
    config = desired_config("FIELDCREW", replicas=3)
    assert problems(config, replicas=3) == []
    assert (config.discard, config.storage, config.retention) == ("new", "file", "limits")
    assert (config.max_msgs, config.max_bytes, config.max_msgs_per_subject) == (-1, -1, -1)
    assert (config.max_age, config.num_replicas, config.subjects) == (0, 3, [SUBJECTS])
    assert config.deny_delete and config.deny_purge and config.allow_direct
    assert not config.allow_rollup_hdrs and not config.allow_msg_ttl


def test_nats_defaults_would_let_a_limit_delete_history_and_every_such_field_is_named() -> None:
    plain = api.StreamConfig(name="FIELDCREW", subjects=[SUBJECTS], max_msgs=1_000_000)
    unmet = {r.name for r in problems(plain, replicas=1)}
    assert {"discard", "max_msgs", "deny_delete", "deny_purge", "allow_direct"} <= unmet
    text = describe(plain, problems(plain, replicas=1))
    assert "max_msgs is 1000000, wanted -1 (no limit deletes history)" in text


def test_more_replicas_than_asked_are_fine_fewer_are_not() -> None:
    assert problems(desired_config(replicas=3), replicas=1) == []
    [unmet] = problems(desired_config(replicas=1), replicas=3)
    assert unmet.name == "num_replicas"


@pytest.mark.parametrize(
    ("url", "servers", "options"),
    [
        ("nats://h1:4222", ["nats://h1:4222"], {}),
        (
            "nats://team:s3cret-pass@n1:4222, nats://team:s3cret-pass@n2:4222",
            ["nats://n1:4222", "nats://n2:4222"],
            {"user": "team", "password": "s3cret-pass"},
        ),
        ("nats://tok3n@n1:4222", ["nats://n1:4222"], {"token": "tok3n"}),
        ("nats://a:p%40ss@n1:4222", ["nats://n1:4222"], {"user": "a", "password": "p@ss"}),
        ("nats://a:x@n1:4222,nats://b:y@n2:4222", ["nats://a:x@n1:4222", "nats://b:y@n2:4222"], {}),
    ],
    ids=["one", "a cluster's list", "token", "escaped", "differing credentials stay"],
)
def test_a_list_of_nats_urls_becomes_a_server_list(
    url: str, servers: list[str], options: dict[str, str]
) -> None:
    assert server_list(url) == (servers, options)
