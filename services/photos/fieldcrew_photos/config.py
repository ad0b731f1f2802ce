from __future__ import annotations

from fieldcrew_shared.settings import ServiceSettings
from pydantic import Field, SecretStr

MIB = 1024 * 1024


class Settings(ServiceSettings):
    """Photos' settings (env prefix ``FIELDCREW_``: ``FIELDCREW_S3_ENDPOINT``, ...).

    The S3 credentials have no default: object storage always requires them (DESIGN.md §8).
    """

    port: int = 8183
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str
    s3_secret_key: SecretStr
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    bucket: str = "fieldcrew-photos"
    max_upload_bytes: int = Field(default=20 * MIB, gt=0)
    max_pixels: int = Field(default=40_000_000, gt=0)
    url_ttl_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600)
