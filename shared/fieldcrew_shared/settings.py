"""Settings every service shares. Each service subclasses ``ServiceSettings`` once and builds
it at start (env prefix ``FIELDCREW_``); nothing reads the environment at import.

``FIELDCREW_MODE`` is ``local`` (the default: embedded servers, generated keys) or
``production``. In production the settings refuse to build, with ``InsecureSettingsError``
naming every offending variable (never its value), when a secret is empty, a well-known
placeholder (``CHANGE-ME``, ``minioadmin``, ``password``, ...) or shorter than 12 characters,
when the NATS URL carries no credentials, or when tokens would be checked against the local
issuer or a JWKS fetched without TLS.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fieldcrew_shared.auth import TokenVerifier
from fieldcrew_shared.errors import FieldcrewError
from fieldcrew_shared.jwks import JwksKeys
from fieldcrew_shared.signing_keys import KeySource, StaticKeys

LOCAL_ISSUER = "fieldcrew-local"
MIN_SECRET_CHARS = 12
PLACEHOLDERS = frozenset(
    {
        "", "admin", "changeit", "changeme", "change-me", "change_me", "default", "example",
        "fieldcrew", "guest", "letmein", "minioadmin", "pass", "password", "placeholder",
        "root", "s3cr3t", "secret", "test", "todo", "xxx", "12345678", "123456789012",
    }
)  # fmt: skip
SECRET_SUFFIXES = ("_secret", "_secret_key", "_password", "_token")


class Mode(StrEnum):
    local = "local"
    production = "production"


class InsecureSettingsError(FieldcrewError):
    """Production settings with a placeholder, empty or missing secret; the service stops."""

    code = "insecure_settings"


class ServiceSettings(BaseSettings):
    """What every service reads: mode, event log, where to listen, how to check tokens."""

    model_config = SettingsConfigDict(env_prefix="FIELDCREW_", extra="ignore")
    # the gateway sets this False: it never connects to NATS, so it needs no NATS credentials
    uses_event_log: ClassVar[bool] = True

    mode: Mode = Mode.local
    nats_url: str = "nats://127.0.0.1:4222"
    stream: str = "FIELDCREW"
    stream_replicas: int = Field(
        default=1, ge=1, le=5, description="Least replicas the stream must have (3 on a cluster)"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    jwt_public_key_file: Path = Field(default=Path(".fieldcrew/keys/jwt-public.pem"))
    jwt_jwks_url: str | None = Field(
        default=None, description="The identity provider's JWKS; replaces the key file"
    )
    jwt_jwks_max_age: float = Field(default=300.0, gt=0, description="Seconds keys are cached")
    jwt_jwks_cooldown: float = Field(
        default=30.0, ge=1, description="Least seconds between two JWKS fetches"
    )
    nats_ping_interval: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between pings to the NATS server; three unanswered and the "
        "client reconnects (to another node of a cluster)",
    )
    backend_timeout: float = Field(
        default=2.0,
        gt=0,
        description="Seconds a call to NATS, PostgreSQL or S3 (and each readiness check) may "
        "take before it counts as failed: the request answers 503 with Retry-After",
    )
    drain_delay: float = Field(
        default=2.0,
        ge=0,
        description="Seconds a service goes on serving after SIGTERM, /readyz answering 503, "
        "so that load balancers stop sending it requests (Kubernetes: ~5); then it takes no "
        "new connections and closes idle ones. Keep it above the gateway's 1 s keep-alive "
        "(docs/adr/0057)",
    )
    shutdown_timeout: float = Field(
        default=20.0,
        gt=0,
        description="Seconds the requests in flight at shutdown may take to finish",
    )
    jwt_issuer: str = LOCAL_ISSUER
    jwt_audience: str = "fieldcrew"
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Self:
        # not a ValueError: pydantic would wrap it and print the input, secrets included
        if self.mode is Mode.production and (problems := insecure_settings(self)):
            raise InsecureSettingsError(
                "FIELDCREW_MODE=production refuses to start: " + "; ".join(problems)
            )
        return self

    def verifier(self) -> TokenVerifier:
        """The token verifier: keys from the JWKS URL if set, else the public key file."""
        keys: KeySource
        if self.jwt_jwks_url:
            keys = JwksKeys.from_url(
                self.jwt_jwks_url,
                allow_http=self.mode is Mode.local,
                max_age=self.jwt_jwks_max_age,
                cooldown=self.jwt_jwks_cooldown,
            )
        else:
            keys = StaticKeys.from_pem(self.jwt_public_key_file.read_bytes())
        return TokenVerifier(keys=keys, issuer=self.jwt_issuer, audience=self.jwt_audience)


class DatabaseSettings(ServiceSettings):
    database_url: str = "postgresql://127.0.0.1:5432/fieldcrew"
    database_command_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a statement of the background work (projection, announcer) may "
        "take; a request's reads are bounded by backend_timeout",
    )


def insecure_settings(settings: ServiceSettings) -> list[str]:
    """What production refuses in ``settings``: one line per variable, never its value."""
    problems: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        env = f"FIELDCREW_{name.upper()}"
        if isinstance(value, SecretStr) or name.endswith(SECRET_SUFFIXES):
            problems += _weak_secret(env, _text(value))
        elif name.endswith("_access_key"):
            problems += [f"{env} {why}" for why in [_placeholder(_text(value))] if why]
        elif name.endswith("_url") and name != "nats_url" and isinstance(value, str):
            problems += _url_problems(env, value, needs_credentials=False)
    if settings.uses_event_log:
        problems += _url_problems("FIELDCREW_NATS_URL", settings.nats_url, needs_credentials=True)
    return problems + _token_problems(settings)


def _token_problems(settings: ServiceSettings) -> list[str]:
    problems = []
    if settings.jwt_issuer == LOCAL_ISSUER:
        problems.append(f"FIELDCREW_JWT_ISSUER is the local issuer {LOCAL_ISSUER!r}")
    jwks = settings.jwt_jwks_url
    if jwks is not None and urlsplit(jwks).scheme != "https":
        problems.append("FIELDCREW_JWT_JWKS_URL must be https (keys must not be tampered with)")
    return problems


def _url_problems(env: str, urls: str, *, needs_credentials: bool) -> list[str]:
    problems = []
    for url in filter(None, (u.strip() for u in urls.split(","))):
        parts = urlsplit(url)
        # nats://TOKEN@host: a lone user part is a token for NATS, a user name elsewhere
        secret = parts.password
        if secret is None and needs_credentials:
            secret = parts.username
        if secret is None:
            if needs_credentials:
                problems.append(f"{env} has no credentials")
            continue
        problems += _weak_secret(f"{env} password", secret)
    return sorted(set(problems))


def weak_secret(value: str) -> str | None:
    """Why ``value`` is too weak for a secret in production (None: it is not)."""
    problems = _weak_secret("", value)
    return problems[0].strip() if problems else None


def _weak_secret(what: str, value: str) -> list[str]:
    if why := _placeholder(value):
        return [f"{what} {why}"]
    if len(value) < MIN_SECRET_CHARS:
        return [f"{what} is shorter than {MIN_SECRET_CHARS} characters"]
    return []


def _placeholder(value: str) -> str | None:
    folded = value.strip().lower()
    if not folded:
        return "is empty"
    if folded in PLACEHOLDERS or "change-me" in folded or "changeme" in folded:
        return "is a placeholder"
    return None


def _text(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return "" if value is None else str(value)
