from __future__ import annotations

from fieldcrew_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Dispatch's settings (env prefix ``FIELDCREW_``)."""

    port: int = 8181
