"""The gateway's settings: where it listens and where each upstream service answers."""

from __future__ import annotations

from fieldcrew_shared.settings import ServiceSettings
from pydantic import Field


class Settings(ServiceSettings):
    """Gateway settings (env prefix ``FIELDCREW_``, e.g. ``FIELDCREW_TEAM_URL``)."""

    port: int = 8080
    dispatch_url: str = "http://127.0.0.1:8181"
    team_url: str = "http://127.0.0.1:8182"
    photos_url: str = "http://127.0.0.1:8183"
    aggregator_url: str = "http://127.0.0.1:8184"
    upstream_timeout: float = Field(
        default=30.0, gt=0, description="Seconds to connect, send, or wait for an answer"
    )
    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024,
        gt=0,
        description="Largest photo accepted; the multipart form around it may add a little",
    )
