"""Structured work orders through the gateway: site, asset and customer as records, plain text
still taken for site (its name) and asset (its id), and every view shows the records."""

from __future__ import annotations

from typing import Any

import httpx
from fieldcrew_cli.stack import Stack

from tests.e2e.conftest import Crew, issue

SITE = {"name": "Plant 2", "address": "Industriestrasse 4, Stuttgart", "lat": 48.72, "lon": 9.11}
ASSET = {"id": "P-104", "model": "Grundfos CR 15", "serial": "96501234"}
CUSTOMER = {"name": "Acme Beverages", "phone": "+49 711 1234567", "email": "fm@acme.example"}


async def views(api: httpx.AsyncClient, stack: Stack, crew: Crew, wo: str) -> list[Any]:
    """The work order as dispatch has it (straight) and as the status view (gateway) has it."""
    headers = crew.auth(crew.dispatcher)
    status = await api.get(f"/work-orders/{wo}", headers=headers)
    dispatch = f"http://127.0.0.1:{stack.ports['dispatch']}"
    async with httpx.AsyncClient(base_url=dispatch, timeout=30) as direct:
        issued = await direct.get(f"/work-orders/{wo}", headers=headers)
    assert status.status_code == issued.status_code == 200, (status.text, issued.text)
    return [status.json(), issued.json()]


async def test_site_asset_and_customer_are_records(
    api: httpx.AsyncClient, stack: Stack, crew: Crew
) -> None:
    wo = await issue(api, crew, site=SITE, asset=ASSET, customer=CUSTOMER)
    for view in await views(api, stack, crew, wo):
        assert view["site"] == SITE and view["asset"] == ASSET
        assert view["customer"] == CUSTOMER


async def test_plain_text_is_the_sites_name_and_the_assets_id(
    api: httpx.AsyncClient, stack: Stack, crew: Crew
) -> None:
    wo = await issue(api, crew, site="Plant 2, roof", asset="P-104")
    for view in await views(api, stack, crew, wo):
        assert view["site"] == {"name": "Plant 2, roof", "address": "", "lat": None, "lon": None}
        assert view["asset"] == {"id": "P-104", "model": "", "serial": ""}
        assert view["customer"] is None


async def test_no_site_or_asset_is_none(api: httpx.AsyncClient, stack: Stack, crew: Crew) -> None:
    wo = await issue(api, crew, site="", asset=None)
    for view in await views(api, stack, crew, wo):
        assert view["site"] is None and view["asset"] is None
