"""The documents service's settings."""

from __future__ import annotations

from fieldcrew_shared.settings import ServiceSettings
from pydantic import Field, SecretStr

MAX_SHARE_HOURS = 720
"""A share link lives at most 30 days."""


class Settings(ServiceSettings):
    """Documents' settings (env prefix ``FIELDCREW_``).

    The S3 settings are the photo bucket's: this service reads its served copies, never
    writes there and never reads an original (docs/adr/0047). The S3 credentials have no
    default; in production give this service a key that may only read the bucket.
    """

    port: int = 8185
    public_url: str = Field(
        default="http://127.0.0.1:8080",
        description="The gateway's address as customers reach it; share links start with it",
    )
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str
    s3_secret_key: SecretStr
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    bucket: str = "fieldcrew-photos"
    pdf_image_side: int = Field(
        default=1200, ge=200, le=4096, description="Longest side of a photo printed in a PDF"
    )
