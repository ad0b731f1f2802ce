"""Production mode refuses placeholder, empty and weak secrets at start; local mode does not.

Settings are built with ``model_validate`` so the process environment plays no part.
"""

from __future__ import annotations

from typing import Any

import pytest
from fieldcrew_aggregator.config import Settings as AggregatorSettings
from fieldcrew_dispatch.config import Settings as DispatchSettings
from fieldcrew_gateway.config import Settings as GatewaySettings
from fieldcrew_photos.config import Settings as PhotosSettings
from fieldcrew_shared.settings import InsecureSettingsError, Mode, ServiceSettings

NATS_SECRET = "q8T3-vzW9-kd1R-77aa"
PRODUCTION: dict[str, Any] = {
    "mode": "production",
    "nats_url": f"nats://dispatch:{NATS_SECRET}@nats-1:4222,nats://dispatch:{NATS_SECRET}@n2:4222",
    "jwt_issuer": "https://id.example.org/realms/fieldcrew",
    "jwt_jwks_url": "https://id.example.org/realms/fieldcrew/protocol/openid-connect/certs",
}
PHOTOS = {
    **PRODUCTION,
    "s3_access_key": "fieldcrew-photos",
    "s3_secret_key": "Zx81-pq0Lm-33Tt-Rw2e",
}
DATABASE = {**PRODUCTION, "database_url": "postgresql://agg:Vb7-2kLp-Q9zz-x1@db:5432/fieldcrew"}


def refusal(settings: type[ServiceSettings], values: dict[str, Any]) -> str:
    with pytest.raises(InsecureSettingsError) as caught:
        settings.model_validate(values)
    return caught.value.message


def test_local_mode_is_the_default_and_takes_the_local_defaults() -> None:
    settings = DispatchSettings.model_validate({})
    assert settings.mode is Mode.local
    assert PhotosSettings.model_validate({"s3_access_key": "", "s3_secret_key": ""})


@pytest.mark.parametrize(
    ("settings", "values"),
    [
        (DispatchSettings, PRODUCTION),
        (PhotosSettings, PHOTOS),
        (AggregatorSettings, DATABASE),
        (GatewaySettings, {**PRODUCTION, "nats_url": "nats://127.0.0.1:4222"}),
    ],
    ids=["dispatch", "photos", "aggregator", "gateway (no NATS, needs no NATS credentials)"],
)
def test_production_accepts_real_secrets(
    settings: type[ServiceSettings], values: dict[str, Any]
) -> None:
    assert settings.model_validate(values).mode is Mode.production


@pytest.mark.parametrize(
    ("settings", "changes", "named"),
    [
        (DispatchSettings, {"nats_url": "nats://fieldcrew:CHANGE-ME@nats:4222"}, "NATS_URL"),
        (DispatchSettings, {"nats_url": "nats://nats-1:4222"}, "NATS_URL has no credentials"),
        (
            DispatchSettings,
            {"nats_url": f"nats://u:{NATS_SECRET}@a:4222,nats://b:4222"},
            "NATS_URL has no credentials",
        ),
        (DispatchSettings, {"nats_url": "nats://fieldcrew:password@nats:4222"}, "placeholder"),
        (DispatchSettings, {"nats_url": "nats://fieldcrew:short@nats:4222"}, "shorter than 12"),
        (PhotosSettings, {"s3_access_key": ""}, "S3_ACCESS_KEY is empty"),
        (PhotosSettings, {"s3_secret_key": ""}, "S3_SECRET_KEY is empty"),
        (PhotosSettings, {"s3_access_key": "minioadmin"}, "S3_ACCESS_KEY is a placeholder"),
        (PhotosSettings, {"s3_secret_key": "minioadmin"}, "S3_SECRET_KEY is a placeholder"),
        (PhotosSettings, {"s3_secret_key": "secret"}, "S3_SECRET_KEY is a placeholder"),
        (PhotosSettings, {"s3_secret_key": "CHANGE-ME"}, "S3_SECRET_KEY is a placeholder"),
        (AggregatorSettings, {"database_url": "postgresql://a:CHANGE-ME@db/x"}, "DATABASE_URL"),
        (AggregatorSettings, {"database_url": "postgresql://a:@db/x"}, "DATABASE_URL"),
        (DispatchSettings, {"jwt_issuer": "fieldcrew-local"}, "JWT_ISSUER is the local issuer"),
        (DispatchSettings, {"jwt_jwks_url": "http://id.example.org/certs"}, "must be https"),
    ],
)
def test_production_refuses_placeholder_or_missing_secrets(
    settings: type[ServiceSettings], changes: dict[str, Any], named: str
) -> None:
    base = {DispatchSettings: PRODUCTION, PhotosSettings: PHOTOS, AggregatorSettings: DATABASE}
    message = refusal(settings, {**base[settings], **changes})
    assert named in message


def test_the_refusal_names_every_problem_but_never_a_value() -> None:
    values = {
        **PHOTOS,
        "nats_url": "nats://fieldcrew:CHANGE-ME@nats:4222",
        "s3_access_key": "minioadmin",
        "s3_secret_key": "tooshort",
    }
    message = refusal(PhotosSettings, values)
    for variable in ("FIELDCREW_NATS_URL", "FIELDCREW_S3_ACCESS_KEY", "FIELDCREW_S3_SECRET_KEY"):
        assert variable in message
    for secret in ("CHANGE-ME", "minioadmin", "tooshort"):
        assert secret not in message


def test_a_production_refusal_is_not_a_pydantic_error_echoing_the_input() -> None:
    values = {**PHOTOS, "s3_secret_key": "password"}
    with pytest.raises(InsecureSettingsError) as caught:
        PhotosSettings.model_validate(values)
    assert "input_value" not in str(caught.value)
    assert "password" not in str(caught.value)


def test_a_service_started_in_production_with_a_placeholder_stops_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIELDCREW_MODE", "production")
    monkeypatch.setenv("FIELDCREW_NATS_URL", "nats://fieldcrew:CHANGE-ME@nats-1:4222")
    monkeypatch.setenv("FIELDCREW_JWT_ISSUER", PRODUCTION["jwt_issuer"])
    with pytest.raises(InsecureSettingsError, match="FIELDCREW_NATS_URL password is a placeholder"):
        DispatchSettings()
