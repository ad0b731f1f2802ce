from __future__ import annotations

from typing import Self

from fieldcrew_shared.settings import (
    DatabaseSettings,
    InsecureSettingsError,
    Mode,
    weak_secret,
)
from pydantic import Field, SecretStr, model_validator


class Settings(DatabaseSettings):
    """The aggregator's settings (env prefix ``FIELDCREW_``)."""

    port: int = 8184
    outbox_flush_interval: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between two looks at the outbox when no commit asks for one",
    )
    webhook_key: SecretStr | None = Field(
        default=None,
        description="Seals webhooks' URLs and secrets in the log; unset: no webhooks (ADR 0043)",
    )
    webhook_timeout: float = Field(default=10.0, gt=0, description="Seconds a receiver has")
    webhook_attempts: int = Field(default=8, ge=1, le=100, description="Attempts, then dead")
    webhook_retry_first: float = Field(
        default=1.0, gt=0, description="Seconds before the second attempt; doubling after"
    )
    webhook_retry_longest: float = Field(default=300.0, gt=0, description="Longest wait")
    webhook_concurrency: int = Field(default=8, ge=1, le=256, description="Sends at once")

    @model_validator(mode="after")
    def _refuse_a_weak_webhook_key(self) -> Self:
        key = self.webhook_key.get_secret_value() if self.webhook_key else None
        if self.mode is Mode.production and key is not None and (why := weak_secret(key)):
            raise InsecureSettingsError(f"FIELDCREW_WEBHOOK_KEY {why}")
        return self
