from __future__ import annotations

from fieldcrew_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Team's settings (env prefix ``FIELDCREW_``)."""

    port: int = 8182
