from __future__ import annotations

from fieldcrew_shared.settings import ServiceSettings
from pydantic import Field


class Settings(ServiceSettings):
    """Dispatch's settings (env prefix ``FIELDCREW_``)."""

    port: int = 8181
    live_heartbeat: float = Field(
        default=15.0, gt=0, description="Seconds between heartbeats of a live event stream"
    )
    live_poll: float = Field(
        default=0.2, gt=0, description="Seconds between looks at the end of the log while streaming"
    )
