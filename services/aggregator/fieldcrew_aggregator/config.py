from __future__ import annotations

from fieldcrew_shared.settings import DatabaseSettings
from pydantic import Field


class Settings(DatabaseSettings):
    """The aggregator's settings (env prefix ``FIELDCREW_``)."""

    port: int = 8184
    outbox_flush_interval: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between two looks at the outbox when no commit asks for one",
    )
