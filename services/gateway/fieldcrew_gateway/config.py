"""The gateway's settings: where it listens, where each upstream service answers, and the
abuse limits it enforces (ADR 0008)."""

from __future__ import annotations

from typing import ClassVar

from fieldcrew_shared.settings import ServiceSettings
from pydantic import Field

MIB = 1024 * 1024


class Settings(ServiceSettings):
    """Gateway settings (env prefix ``FIELDCREW_``, e.g. ``FIELDCREW_TEAM_URL``)."""

    uses_event_log: ClassVar[bool] = False  # HTTP only: no NATS credentials needed

    port: int = 8080
    dispatch_url: str = "http://127.0.0.1:8181"
    team_url: str = "http://127.0.0.1:8182"
    photos_url: str = "http://127.0.0.1:8183"
    aggregator_url: str = "http://127.0.0.1:8184"
    documents_url: str = "http://127.0.0.1:8185"
    upstream_timeout: float = Field(
        default=4.5,
        gt=0,
        description="Seconds to connect to a service, or to wait for its answer (each read), "
        "before the client is answered 503: longer than a service takes to answer 503 itself "
        "when its backend hangs (two backend calls of backend_timeout)",
    )
    upload_upstream_timeout: float = Field(
        default=60.0,
        gt=0,
        description="The same for a photo upload, whose answer waits for the image to be "
        "checked and re-encoded and both copies stored",
    )
    max_upload_bytes: int = Field(
        default=20 * MIB,
        gt=0,
        description="Largest photo accepted; the multipart form around it may add a little",
    )
    max_json_body_bytes: int = Field(
        default=MIB, gt=0, description="Largest body of every route but the photo upload"
    )
    rate_limit_per_second: float = Field(
        default=20.0,
        gt=0,
        description="Requests a second each user (or, without a valid token, each client IP) "
        "may make, on average, to this gateway replica",
    )
    rate_limit_burst: int = Field(
        default=40, ge=1, description="Requests a user may make at once before the rate applies"
    )
    rate_limit_max_keys: int = Field(
        default=100_000, ge=1, description="Users and IPs tracked at most (memory bound)"
    )
    request_head_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client has to send a request's line and headers, from when the "
        "connection opens or the previous response ends",
    )
    json_body_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a client has to send a JSON request's body"
    )
    upload_body_timeout: float = Field(
        default=30.0, gt=0, description="Seconds a client has to send a photo upload's body"
    )
    keep_alive_timeout: int = Field(
        default=5, ge=1, description="Seconds an idle keep-alive connection stays open"
    )
    max_request_head_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        description="Largest request line plus headers (h11's max_incomplete_event_size)",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses of load balancers whose X-Forwarded-For is "
        "believed (the client IP for rate limits); empty: none, the peer address is the client",
    )
    oidc_authorization_url: str | None = Field(
        default=None,
        description="The identity provider's authorization endpoint; with the token URL and "
        "client id set, the console signs in with OIDC (authorization code + PKCE)",
    )
    oidc_token_url: str | None = Field(
        default=None, description="The identity provider's token endpoint (allows CORS)"
    )
    oidc_client_id: str | None = Field(
        default=None, description="The console's client id: a public client, no secret"
    )
    oidc_scope: str = Field(default="openid", description="Scopes the console asks for")
    oidc_audience: str | None = Field(
        default=None,
        description="Sent as `audience` when set, for providers that need it to issue an "
        "access token for this API (its `aud` must be FIELDCREW_JWT_AUDIENCE)",
    )
