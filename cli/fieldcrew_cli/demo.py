"""``fieldcrew demo``: a dispatcher issues a work order to a crew of four; everyone adds a note
and uploads their own photo; the leader merges the notes and submits the report; the server
report is printed. Also shows that a member cannot submit the report."""

from __future__ import annotations

import asyncio
import io
import json
import random
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from fieldcrew_shared.auth import Role, mint
from PIL import Image

from fieldcrew_cli import local

LEADER, MEMBERS, DISPATCHER = "lena", ("max", "ida", "tom"), "dora"


def sample_jpeg(seed: int, size: tuple[int, int] = (640, 480)) -> bytes:
    """A JPEG photo with noise (so every seed gives other bytes) and an EXIF capture time."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    image.putdata([(rng.randrange(256), 90, 160) for _ in range(size[0] * size[1])])
    exif = Image.Exif()
    exif[0x8769] = {0x9003: datetime.now(UTC).strftime("%Y:%m:%d %H:%M:%S")}
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif)
    return out.getvalue()


def _tokens() -> dict[str, str]:
    private = local.keypair()[0].read_bytes()

    def tok(sub: str, role: Role) -> str:
        return mint(private, sub=sub, role=role, issuer=local.ISSUER, audience=local.AUDIENCE)

    people = {p: tok(p, Role.technician) for p in (LEADER, *MEMBERS)}
    return {DISPATCHER: tok(DISPATCHER, Role.dispatcher), **people}


async def _call(
    client: httpx.AsyncClient, method: str, path: str, token: str, expect: int, **kw: Any
) -> Any:
    response = await client.request(
        method, path, headers={"Authorization": f"Bearer {token}"}, **kw
    )
    if response.status_code != expect:
        raise SystemExit(f"{method} {path}: {response.status_code} {response.text}")
    return response.json()


async def demo(url: str | None) -> int:
    base = url or local.read_env().get("FIELDCREW_GATEWAY_URL", "http://127.0.0.1:8080")
    tok = _tokens()
    async with httpx.AsyncClient(base_url=f"{base}/api/v1", timeout=30) as c:
        order = {
            "title": "Chiller CH-7 trips on high pressure",
            "site": "Plant 2, roof",
            "asset": "CH-7",
            "priority": "high",
            "crew": {"leader": LEADER, "members": list(MEMBERS)},
        }
        wo = await _call(c, "POST", "/work-orders", tok[DISPATCHER], 201, json=order)
        path = f"/work-orders/{wo['id']}"
        print(f"issued work order {wo['id']} to {LEADER} + {', '.join(MEMBERS)}")
        for i, person in enumerate((LEADER, *MEMBERS)):
            note = {
                "findings": f"{person}: condenser fan {i} seized",
                "actions": "replaced fan",
                "parts": [{"part_no": "FAN-200", "qty": 1}, {"part_no": "BOLT-M6", "qty": 4}],
                "labour_minutes": 40 + i,
            }
            await _call(c, "POST", f"{path}/notes", tok[person], 201, json=note)
            files = {"file": (f"{person}.jpg", sample_jpeg(i), "image/jpeg")}
            photo = await _call(
                c,
                "POST",
                f"{path}/photos",
                tok[person],
                201,
                files=files,
                data={"phase": "after", "caption": f"by {person}"},
            )
            print(f"  {person}: note added, photo {photo['sha256'][:12]}… uploaded")
        report = {
            "summary": "Four seized condenser fans replaced; chiller runs stable",
            "root_cause": "bearing wear",
            "outcome": "resolved",
        }
        refused = await c.post(
            f"{path}/report", json=report, headers={"Authorization": f"Bearer {tok[MEMBERS[0]]}"}
        )
        print(
            f"  a member submitting the report gets {refused.status_code}"
            f" ({refused.json()['error']['message']})"
        )
        await _call(c, "POST", f"{path}/report", tok[LEADER], 201, json=report)
        print(f"  {LEADER} merged the notes and submitted the report")
        final = await _wait_for_report(c, f"{path}/server-report", tok[DISPATCHER])
    print(json.dumps(final, indent=2))
    return 0


async def _wait_for_report(c: httpx.AsyncClient, path: str, token: str) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = await c.get(path, headers={"Authorization": f"Bearer {token}"})
        if r.status_code == 200:
            return r.json()
        await asyncio.sleep(0.1)
    raise SystemExit("the server report was not compiled within 30 s")
