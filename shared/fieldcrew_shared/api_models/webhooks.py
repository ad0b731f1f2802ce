"""Webhooks: registering one, and what the office sees of it and of its deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from fieldcrew_shared.api_models.constraints import ONE_LINE, Strict


class RegisterWebhookRequest(Strict):
    url: str = Field(
        min_length=1,
        max_length=2000,
        pattern=ONE_LINE,
        description="Where events are POSTed (http or https; in production a public address)",
    )
    event_types: list[Annotated[str, StringConstraints(max_length=200, pattern=ONE_LINE)]] = Field(
        min_length=1,
        max_length=100,
        description='CloudEvents types, e.g. "fieldcrew.aggregator.ServerReportCompiled.v1", or'
        ' ["*"] for every event',
    )


class WebhookOut(BaseModel):
    """A webhook subscription (its signing secret is shown once, when it is registered)."""

    id: UUID
    url: str
    event_types: list[str]
    registered_by: str
    registered_at: datetime | None = Field(description="None until the worker has read it")
    secret: str | None = Field(
        default=None, description="The Standard Webhooks signing secret (whsec_…): only in the 201"
    )
    deliveries: dict[str, int] = Field(
        default_factory=dict, description="Deliveries by status: pending, delivered, dead"
    )


class AttemptOut(BaseModel):
    attempt: int = Field(ge=1)
    at: datetime
    seconds: float
    status_code: int | None = Field(description="The receiver's HTTP status; None: no answer")
    error: str | None
    outcome: Literal["delivered", "failed", "dead"]


class DeliveryOut(BaseModel):
    """One event owed to a webhook: its state and every attempt so far."""

    event_id: str = Field(description="Also the `webhook-id` header the receiver sees")
    event_type: str
    sequence: int
    status: Literal["pending", "delivered", "dead"]
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    attempts: list[AttemptOut]
