"""The gateway's own metrics, on an in-process gateway: an upstream that refuses connections
and a caller over the rate limit are counted (the e2e metrics test sees the rest)."""

from __future__ import annotations

from pathlib import Path

from fieldcrew_gateway.main import create_app
from prometheus_client import REGISTRY

from tests.conftest import TokenFactory, app_client, bearer
from tests.integration.test_gateway_api import closed_url, gateway_settings

__all__ = ["closed_url"]  # the fixture, used here


def errors() -> float:
    return sum(
        REGISTRY.get_sample_value(
            "fieldcrew_gateway_upstream_errors_total", {"upstream": u, "kind": "unreachable"}
        )
        or 0.0
        for u in ("dispatch", "team", "photos", "aggregator")
    )


async def test_an_unreachable_upstream_and_a_refused_caller_are_counted(
    keys: tuple[Path, Path], token: TokenFactory, closed_url: str
) -> None:
    app = create_app(
        gateway_settings(keys, closed_url, rate_limit_burst=2, rate_limit_per_second=0.001)
    )
    auth = bearer(token("dee", "dispatcher"))
    limited = REGISTRY.get_sample_value("fieldcrew_gateway_rate_limited_total") or 0.0
    unreachable = errors()
    async with app_client(app) as client:
        answers = [await client.get("/api/v1/work-orders", headers=auth) for _ in range(3)]
        assert [a.status_code for a in answers] == [503, 503, 429]
        scraped = (await client.get("/metrics")).text
    assert errors() == unreachable + 2
    assert REGISTRY.get_sample_value("fieldcrew_gateway_rate_limited_total") == limited + 1
    assert "fieldcrew_gateway_upstream_errors_total{" in scraped
    # refused before a route took it, and still counted
    assert 'fieldcrew_http_requests_total{method="GET",route="unrouted",status="429"}' in scraped
    assert 'route="/api/v1/work-orders",status="503"' in scraped
