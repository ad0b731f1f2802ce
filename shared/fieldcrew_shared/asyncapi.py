"""The event contract as an AsyncAPI 3.0 document, generated from the event catalogue.

One channel per event type (its subject, with the work order id as a parameter), one ``send``
operation per channel naming the service that publishes it, one message per event: a
CloudEvents 1.0 structured-mode document whose ``data`` is the JSON Schema pydantic gives of
the event's current version. Every event added to ``CATALOGUE`` is in the document with no
change here. ``docs/asyncapi.json`` is this document as committed (``fieldcrew asyncapi``
writes it; a test fails when it is out of date) and the gateway serves it at
``/asyncapi.json``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import models_json_schema

from fieldcrew_shared.envelope import Envelope
from fieldcrew_shared.events import CATALOGUE, Event

SCHEMAS = "#/components/schemas/{model}"
CONTENT_TYPE = "application/cloudevents+json"

DESCRIPTION = """\
Every event fieldcrew records, as it travels on NATS JetStream (stream `FIELDCREW`, subjects
`fieldcrew.>`, kept forever). Each message is one CloudEvents 1.0 document in structured JSON
mode; its `data` is the event. The subject is `fieldcrew.<service>.<work order id>.<EventName>`,
so NATS wildcards select what to read:

| filter | what |
|---|---|
| `fieldcrew.>` | the whole log |
| `fieldcrew.<service>.>` | everything one service published, e.g. `fieldcrew.team.>` |
| `fieldcrew.*.<work order id>.>` | one work order's whole history |
| `fieldcrew.*.*.<EventName>` | one kind of event, e.g. `fieldcrew.*.*.PhotoUploaded` |

Only the service named in `source` (`fieldcrew/<service>`) may publish on its subjects, and
consumers drop any other. A payload is never changed once published: a new field comes with a
default, a new shape as a new version (`type` ends in `.v2`) whose older versions consumers
upcast; consumers ignore fields they do not know. `Nats-Msg-Id` is the event id: JetStream
drops a repeat within its duplicate window, and a consumer can drop one by the id."""

SUBJECT_FILTERS = {
    "all": "fieldcrew.>",
    "service": "fieldcrew.<service>.>",
    "work_order": "fieldcrew.*.<work order id>.>",
    "event": "fieldcrew.*.*.<EventName>",
}


def document(version: str = "1.0.0") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every event in the catalogue."""
    events = sorted(CATALOGUE.values(), key=lambda c: (c.context, c.name))
    schemas = _schemas(events)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "fieldcrew events",
            "version": version,
            "description": DESCRIPTION,
            "license": {"name": "proprietary"},
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": SERVERS,
        "channels": {_channel_id(c): _channel(c) for c in events},
        "operations": {f"{_channel_id(c)}.publish": _operation(c) for c in events},
        "components": {
            "schemas": schemas,
            "messages": {c.name: _message(c) for c in events},
            "messageTraits": {"NatsMessageId": NATS_HEADERS},
        },
        "x-subject-filters": SUBJECT_FILTERS,
    }


def render(doc: dict[str, Any] | None = None) -> str:
    """The document as committed: sorted keys, two-space indent, a final newline."""
    return json.dumps(doc if doc is not None else document(), indent=2, sort_keys=True) + "\n"


SERVERS = {
    "production": {
        "host": "nats-1:4222",
        "protocol": "nats",
        "description": "A member of the 3-node JetStream cluster (deploy/nats/nats-server.conf);"
        " each service and each integration connects with its own user",
    },
    "local": {
        "host": "127.0.0.1:14222",
        "protocol": "nats",
        "description": "`make run`; users and passwords in .fieldcrew/run.env",
    },
}

NATS_HEADERS = {
    "headers": {
        "type": "object",
        "properties": {
            "Nats-Msg-Id": {
                "type": "string",
                "description": "The event id (CloudEvents `id`): JetStream drops a repeat",
            }
        },
    }
}


ENVELOPE_ATTRIBUTES = {
    "id": "The event id (a UUID), also its `Nats-Msg-Id`: a consumer drops a repeat by it",
    "source": "The service that published it: `fieldcrew/<service>`",
    "type": "`fieldcrew.<service>.<EventName>.v<version>`",
    "subject": "The aggregate it belongs to: the work order's id (a webhook's, for its own)",
    "time": "When it happened (on the device, for work recorded offline)",
    "recordedat": "When the server recorded it",
    "correlationid": "The request or flow it belongs to",
    "causationid": "What caused it: the client's `Idempotency-Key`, when it sent one",
    "actor": "Who acted: a user id (a token's `sub`), or a service for its own events",
    "actorrole": "The actor's role: dispatcher, technician, analyst, admin, or system",
    "schemaversion": "The version of `data`'s schema (the `.vN` of `type`)",
    "data": "The event: its schema is the message's",
}


def _schemas(events: list[type[Event]]) -> dict[str, Any]:
    """The JSON Schema of every event's data and of the envelope, references between them
    pointing into ``components/schemas``."""
    models: list[tuple[type[Any], Any]] = [(c, "validation") for c in events]
    _, top = models_json_schema([*models, (Envelope, "validation")], ref_template=SCHEMAS)
    schemas: dict[str, Any] = top.get("$defs", {})
    envelope = schemas.pop(Envelope.__name__)
    envelope["title"] = "CloudEvents envelope"
    envelope["description"] = (
        "CloudEvents 1.0, structured JSON mode, with fieldcrew's extensions: correlationid,"
        " causationid, actor, actorrole, schemaversion, recordedat (when the server recorded"
        " it; `time` is when it happened, on the device for work recorded offline)"
    )
    envelope["additionalProperties"] = True
    for name, text in ENVELOPE_ATTRIBUTES.items():
        envelope["properties"][name]["description"] = text
    envelope["properties"]["subject"]["format"] = "uuid"
    schemas["CloudEventsEnvelope"] = envelope
    return schemas


def _channel_id(cls: type[Event]) -> str:
    return f"{cls.context}.{cls.name}"


def _channel(cls: type[Event]) -> dict[str, Any]:
    whose = "work order" if cls.about_work_order else cls.aggregate_parameter.removesuffix("Id")
    return {
        "address": f"fieldcrew.{cls.context}.{{{cls.aggregate_parameter}}}.{cls.name}",
        "title": cls.name,
        "description": (
            f"Every {cls.name} event: subscribe with `fieldcrew.{cls.context}.*.{cls.name}`;"
            f" one {whose}'s with `fieldcrew.{cls.context}.<{whose} id>.{cls.name}`."
        ),
        "parameters": {
            cls.aggregate_parameter: {
                "description": f"The {whose}'s id (a UUID): the CloudEvents subject"
            }
        },
        "messages": {cls.name: {"$ref": f"#/components/messages/{cls.name}"}},
    }


def _operation(cls: type[Event]) -> dict[str, Any]:
    channel = _channel_id(cls)
    return {
        "action": "send",
        "title": f"the {cls.context} service publishes {cls.name}",
        "summary": f"Published by the {cls.context} service (source `fieldcrew/{cls.context}`)",
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{cls.name}"}],
        "tags": [{"name": cls.context}],
    }


def _message(cls: type[Event]) -> dict[str, Any]:
    return {
        "name": cls.name,
        "title": cls.type_name(),
        "summary": (cls.__doc__ or cls.name).strip().splitlines()[0],
        "contentType": CONTENT_TYPE,
        "traits": [{"$ref": "#/components/messageTraits/NatsMessageId"}],
        "payload": {
            "allOf": [
                {"$ref": "#/components/schemas/CloudEventsEnvelope"},
                {
                    "type": "object",
                    "required": ["type", "source", "data"],
                    "properties": {
                        "type": {"const": cls.type_name()},
                        "source": {"const": f"fieldcrew/{cls.context}"},
                        "schemaversion": {"const": cls.version},
                        "data": {"$ref": SCHEMAS.format(model=cls.__name__)},
                    },
                },
            ]
        },
        "x-cloudevents-type": cls.type_name(),
        "x-published-by": cls.context,
    }
