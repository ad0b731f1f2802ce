from __future__ import annotations

from fieldcrew_shared.settings import ServiceSettings
from pydantic import Field, SecretStr

KIB = 1024
MIB = 1024 * KIB
MAX_URL_TTL_SECONDS = 300
"""Photo URLs handed to clients expire within five minutes; a longer setting is refused."""


class Settings(ServiceSettings):
    """Photos' settings (env prefix ``FIELDCREW_``: ``FIELDCREW_S3_ENDPOINT``, ...).

    The S3 credentials have no default: object storage always requires them (docs/design.md §8).
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
    max_metadata_bytes: int = Field(
        default=256 * KIB,
        gt=0,
        description="Largest total of an image's non-pixel parts (EXIF, XMP, ICC, comments)",
    )
    served_max_side: int = Field(
        default=4096,
        ge=64,
        le=16384,
        description="Longest side of the re-encoded copy served to clients, in pixels",
    )
    url_ttl_seconds: int = Field(default=MAX_URL_TTL_SECONDS, ge=1, le=MAX_URL_TTL_SECONDS)
    thumbnail_side: int = Field(
        default=320, ge=32, le=1024, description="Longest side of a photo's thumbnail, in pixels"
    )
    rendition_lanes: int = Field(
        default=1,
        ge=0,
        le=16,
        description="Photos whose copies this process makes at once; 0: it makes none",
    )
    rendition_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="How much lower the CPU priority of the processes making copies is than "
        "the API's (a nice increment; 0: the same)",
    )
    rendition_attempts: int = Field(
        default=4, ge=1, le=20, description="Tries to make a photo's copies before giving up"
    )
    rendition_retry_seconds: float = Field(
        default=2.0, gt=0, le=600, description="Wait before the second try, doubling each time"
    )
