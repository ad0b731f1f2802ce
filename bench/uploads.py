"""4. Photo upload: photos of ~50 KB and ~5 MB through the gateway (token check, proxy, byte
check and full decode, sha256, S3 put, ``PhotoUploaded`` appended) next to raw S3 puts of the
same bytes with the minio SDK, the same number in flight."""

from __future__ import annotations

import asyncio

import httpx

from bench import floor
from bench.crew import Clients
from bench.env import KEEPALIVE, BenchEnv
from bench.stats import Results, Row, latency_ms, median
from bench.workload import jpeg, variant

SECTION = "4 photo upload"
IN_FLIGHT = 4  # a crew of four, each sending their photo at once
SIZES = {"50 KB": ((400, 300), 80), "5 MB": ((4000, 3000), 88)}


async def _issue(api: httpx.AsyncClient, clients: Clients, count: int, first: int) -> list[str]:
    """Work orders ``first .. first+count-1``, issued ahead of the timed uploads."""
    ids = []
    for n in range(first, first + count):
        crew = clients.crew(n)
        body = {"title": "upload bench", "crew": {"leader": crew[0], "members": crew[1:]}}
        r = await api.post("/work-orders", json=body, headers=clients.auth("dispatcher", n))
        r.raise_for_status()
        ids.append(r.json()["id"])
    return ids


async def ours(
    api: httpx.AsyncClient, clients: Clients, photos: list[bytes], first: int
) -> tuple[float, list[float], int]:
    """Every photo uploaded by a crew member of a fresh work order; (s, latencies, errors)."""
    orders = await _issue(api, clients, (len(photos) + 3) // 4, first)
    errors = 0

    async def upload(n: int) -> None:
        nonlocal errors
        who = clients.crew(first + n // 4)[n % 4]
        files = {"file": ("p.jpg", photos[n], "image/jpeg")}
        r = await api.post(f"/work-orders/{orders[n // 4]}/photos", files=files,
                           headers=clients.auth(who))  # fmt: skip
        errors += r.status_code != 201

    seconds, latencies = await floor.timed(len(photos), IN_FLIGHT, upload)
    return seconds, latencies, errors


async def raw(env: BenchEnv, photos: list[bytes]) -> tuple[float, list[float]]:
    client = floor.minio_client(env)
    await asyncio.to_thread(floor.ensure_bucket, client)

    async def put(n: int) -> None:
        await asyncio.to_thread(floor.s3_put, client, photos[n])

    return await floor.timed(len(photos), IN_FLIGHT, put)


async def run(env: BenchEnv, results: Results, *, counts: dict[str, int], reps: int) -> None:
    clients = Clients(env)
    first = 100_000  # work-order numbers (crews) apart from the crew-flow run's
    limits = httpx.Limits(keepalive_expiry=KEEPALIVE)
    async with httpx.AsyncClient(
        base_url=f"{env.gateway}/api/v1", timeout=120, limits=limits
    ) as api:
        for label, (size, quality) in SIZES.items():
            base = jpeg(size, quality)
            mb = {"ours": [], "raw": []}  # type: dict[str, list[float]]
            lat: dict[str, list[float]] = {"ours": [], "raw": []}
            errors = 0
            for rep in range(reps):
                photos = [variant(base, n) for n in range(counts[label])]
                megabytes = sum(len(p) for p in photos) / 2**20
                for side in ("ours", "raw") if rep % 2 == 0 else ("raw", "ours"):
                    if side == "ours":
                        seconds, latencies, failed = await ours(api, clients, photos, first)
                        first += len(photos)
                        errors += failed
                    else:
                        seconds, latencies = await raw(env, photos)
                    mb[side].append(megabytes / seconds)
                    lat[side] += latencies
            _report(results, label, len(base), mb, lat, errors)


def _report(
    results: Results,
    label: str,
    size: int,
    mb: dict[str, list[float]],
    lat: dict[str, list[float]],
    errors: int,
) -> None:
    ours_mb, raw_mb = median(mb["ours"]), median(mb["raw"])
    results.record(SECTION, label, {
        "bytes": size, "in_flight": IN_FLIGHT, "mb_per_s_ours": mb["ours"],
        "mb_per_s_raw": mb["raw"], "latency_ours": latency_ms(lat["ours"]),
        "latency_raw": latency_ms(lat["raw"]), "errors": errors,
    })  # fmt: skip
    results.add(Row(SECTION, f"upload {label} ({IN_FLIGHT} in flight)", ours_mb, "MB/s",
                    raw_mb, "raw S3", ">=0.6x raw", ours_mb >= 0.6 * raw_mb))  # fmt: skip
    ours_ms, raw_ms = latency_ms(lat["ours"]), latency_ms(lat["raw"])
    results.add(Row(SECTION, f"upload {label} latency p99", ours_ms["p99_ms"], "ms",
                    raw_ms["p99_ms"], "raw S3"))  # fmt: skip
    if errors:
        results.add(Row(SECTION, f"upload {label} errors", float(errors), "", None, "", "0",
                        False))  # fmt: skip
