from __future__ import annotations

from fieldcrew_shared.settings import DatabaseSettings


class Settings(DatabaseSettings):
    """The aggregator's settings (env prefix ``FIELDCREW_``)."""

    port: int = 8184
