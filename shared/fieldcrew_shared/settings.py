"""Settings every service shares. Each service subclasses ``ServiceSettings`` once and builds
it at start (env prefix ``FIELDCREW_``); nothing reads the environment at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from fieldcrew_shared.auth import TokenVerifier


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIELDCREW_", extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    stream: str = "FIELDCREW"
    host: str = "127.0.0.1"
    port: int = 8000
    jwt_public_key_file: Path = Field(default=Path(".fieldcrew/keys/jwt-public.pem"))
    jwt_issuer: str = "fieldcrew-local"
    jwt_audience: str = "fieldcrew"
    log_level: str = "INFO"

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(
            public_key_pem=self.jwt_public_key_file.read_bytes(),
            issuer=self.jwt_issuer,
            audience=self.jwt_audience,
        )


class DatabaseSettings(ServiceSettings):
    database_url: str = "postgresql://127.0.0.1:5432/fieldcrew"
