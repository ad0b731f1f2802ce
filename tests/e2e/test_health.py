"""Every service of the running system says it is alive and ready, and which checks it ran."""

from __future__ import annotations

from typing import Any

import httpx
from fieldcrew_cli.stack import SERVICES, Stack

CHECKS = {
    "dispatch": {"nats"},
    "team": {"nats"},
    "photos": {"nats", "s3", "renditions", "renditions_lag"},
    "aggregator": {
        "nats",
        "postgres",
        "projection",
        "announcer",
        "lag",
        "webhook-projection",
        "webhook-sender",
    },
    "documents": {"nats", "s3"},
    "gateway": {"dispatch", "team", "photos", "aggregator", "documents"},
}


async def test_every_service_is_live_and_ready(stack: Stack) -> None:
    ready: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=15) as client:
        for name in SERVICES:
            base = f"http://127.0.0.1:{stack.ports[name]}"
            assert (await client.get(f"{base}/healthz")).status_code == 200
            answer = await client.get(f"{base}/readyz")
            assert answer.status_code == 200, (name, answer.text)
            ready[name] = answer.json()
            assert ready[name]["status"] == "ready"
            # every service also says whether it is draining (ADR 0057)
            assert set(ready[name]["checks"]) == CHECKS[name] | {"draining"}
    aggregator = ready["aggregator"]["checks"]
    assert aggregator["lag"]["pending"] >= 0 and aggregator["lag"]["ack_pending"] >= 0
    assert aggregator["projection"]["state"] == aggregator["announcer"]["state"] == "running"
