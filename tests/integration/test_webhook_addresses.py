"""Where webhooks may be sent: in production (``AddressPolicy(public_only=True)``) never to
loopback, private, link-local or other internal addresses, names resolved (``localhost``) and
the request pinned to the address checked; locally anywhere."""

from __future__ import annotations

import pytest
from fieldcrew_aggregator.webhooks.addresses import AddressPolicy, UnsafeAddressError


async def test_production_refuses_internal_addresses_and_pins_public_ones() -> None:
    production = AddressPolicy(public_only=True)
    for url in ["http://127.0.0.1:8080/x", "http://[::1]/x", "http://10.0.0.5/x",
                "http://169.254.169.254/latest/meta-data", "http://localhost:9/x"]:  # fmt: skip
        with pytest.raises(UnsafeAddressError):
            await production.target(url)
    target = await production.target("https://93.184.215.14:8443/hook?a=1")
    assert target.url == "https://93.184.215.14:8443/hook?a=1"
    assert target.headers == {"host": "93.184.215.14:8443"}
    local = AddressPolicy(public_only=False)
    assert (await local.target("http://127.0.0.1:9/x")).url == "http://127.0.0.1:9/x"
