"""4. Photo upload: photos of ~50 KB and ~5 MB through the gateway (token check, proxy, byte
check and full decode, sha256, S3 put, ``PhotoUploaded`` appended) next to raw S3 puts of the
same bytes with the minio SDK, the same number in flight; and the time from an upload's answer
to its thumbnail being ready (the rendition worker's ``PhotoRenditionsMade`` on the bus), both
under the burst of uploads and one photo at a time. Beside them, the floor of any upload that
checks its bytes: the photos service's own check, then a raw put, with nothing else."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx
import orjson
from fieldcrew_photos.handlers import Limits, examine
from fieldcrew_shared.eventstore import connect
from nats.aio.msg import Msg

from bench import floor
from bench.crew import Clients
from bench.env import KEEPALIVE, BenchEnv
from bench.stats import Results, Row, latency_ms, median
from bench.workload import jpeg, variant

SECTION = "4 photo upload"
IN_FLIGHT = 4  # a crew of four, each sending their photo at once
SIZES = {"50 KB": ((400, 300), 80), "5 MB": ((4000, 3000), 88)}
PACED = {"50 KB": 20, "5 MB": 8}  # photos uploaded one at a time, each waiting for its thumbnail
DRAIN_SECONDS = 600.0  # the worker's backlog after a burst must be done within this
LIMITS = Limits(max_pixels=40_000_000, max_metadata_bytes=256 * 1024)  # photos' defaults
SIDES = ("ours", "raw", "checked")


@dataclass
class Thumbnails:
    """When each photo's copies were recorded ready (``PhotoRenditionsMade`` on the bus), and
    when each upload was sent and answered, by photo id (all ``perf_counter``)."""

    ready: dict[str, float] = field(default_factory=dict)
    sent: dict[str, float] = field(default_factory=dict)
    answered: dict[str, float] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_msg(self, msg: Msg) -> None:
        self.ready[orjson.loads(msg.data)["data"]["photo_id"]] = time.perf_counter()
        self.arrived.set()

    async def wait_for(self, ids: list[str]) -> None:
        """Until every photo of ``ids`` has its copies."""
        async with asyncio.timeout(DRAIN_SECONDS):
            while not all(i in self.ready for i in ids):
                self.arrived.clear()
                await self.arrived.wait()

    def after_answer(self, ids: list[str]) -> list[float]:
        """Seconds from each upload's answer to its thumbnail being ready."""
        return [self.ready[i] - self.answered[i] for i in ids if i in self.ready]

    def after_sending(self, ids: list[str]) -> list[float]:
        return [self.ready[i] - self.sent[i] for i in ids if i in self.ready]


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


@dataclass
class Sent:
    """What one run of our uploads gave: seconds, latencies, errors and the photo ids."""

    seconds: float
    latencies: list[float]
    errors: int
    photo_ids: list[str]


async def ours(
    api: httpx.AsyncClient,
    clients: Clients,
    photos: list[bytes],
    first: int,
    thumbnails: Thumbnails,
    width: int = IN_FLIGHT,
) -> Sent:
    """Every photo uploaded by a crew member of a fresh work order, ``width`` at once."""
    orders = await _issue(api, clients, (len(photos) + 3) // 4, first)
    errors, photo_ids = 0, []

    async def upload(n: int) -> None:
        nonlocal errors
        who = clients.crew(first + n // 4)[n % 4]
        files = {"file": ("p.jpg", photos[n], "image/jpeg")}
        sent = time.perf_counter()
        r = await api.post(f"/work-orders/{orders[n // 4]}/photos", files=files,
                           headers=clients.auth(who))  # fmt: skip
        answered = time.perf_counter()
        errors += r.status_code != 201
        if r.status_code == 201:
            photo_id = r.json()["id"]
            thumbnails.sent[photo_id], thumbnails.answered[photo_id] = sent, answered
            photo_ids.append(photo_id)
            if width == 1:  # one at a time: the next waits for this one's thumbnail
                await thumbnails.wait_for([photo_id])

    seconds, latencies = await floor.timed(len(photos), width, upload)
    return Sent(seconds, latencies, errors, photo_ids)


async def raw(env: BenchEnv, photos: list[bytes]) -> tuple[float, list[float]]:
    client = floor.minio_client(env)
    await asyncio.to_thread(floor.ensure_bucket, client)

    async def put(n: int) -> None:
        await asyncio.to_thread(floor.s3_put, client, photos[n])

    return await floor.timed(len(photos), IN_FLIGHT, put)


async def checked(env: BenchEnv, photos: list[bytes]) -> tuple[float, list[float]]:
    """Each photo checked as the photos service checks it (structure, pixel limit, decode,
    sha256; in a thread), then put raw: what an upload that decodes costs at the least."""
    client = floor.minio_client(env)
    await asyncio.to_thread(floor.ensure_bucket, client)

    def check_and_put(data: bytes) -> None:
        examine(data, LIMITS)
        floor.s3_put(client, data)

    async def put(n: int) -> None:
        await asyncio.to_thread(check_and_put, photos[n])

    return await floor.timed(len(photos), IN_FLIGHT, put)


@dataclass
class Measured:
    """One size's figures over every repetition."""

    size: int
    mb: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})
    lat: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})
    errors: int = 0
    burst_ids: list[str] = field(default_factory=list)
    paced_ids: list[str] = field(default_factory=list)


async def run(env: BenchEnv, results: Results, *, counts: dict[str, int], reps: int) -> None:
    clients = Clients(env)
    first = 100_000  # work-order numbers (crews) apart from the crew-flow run's
    limits = httpx.Limits(keepalive_expiry=KEEPALIVE)
    thumbnails = Thumbnails()
    nc = await connect(env.infra.nats_url, name="bench-thumbnails")
    sub = await nc.subscribe("fieldcrew.photos.*.PhotoRenditionsMade", cb=thumbnails.on_msg)
    try:
        async with httpx.AsyncClient(
            base_url=f"{env.gateway}/api/v1", timeout=120, limits=limits
        ) as api:
            for label, (size, quality) in SIZES.items():
                base = jpeg(size, quality)
                measured = Measured(len(base))
                for rep in range(reps):
                    photos = [variant(base, n) for n in range(counts[label])]
                    megabytes = sum(len(p) for p in photos) / 2**20
                    for side in SIDES if rep % 2 == 0 else SIDES[::-1]:
                        if side == "ours":
                            sent = await ours(api, clients, photos, first, thumbnails)
                            first += len(photos)
                            seconds, latencies = sent.seconds, sent.latencies
                            measured.errors += sent.errors
                            measured.burst_ids += sent.photo_ids
                            # the worker's backlog is done before the raw side runs
                            await thumbnails.wait_for(sent.photo_ids)
                        elif side == "raw":
                            seconds, latencies = await raw(env, photos)
                        else:
                            seconds, latencies = await checked(env, photos)
                        measured.mb[side].append(megabytes / seconds)
                        measured.lat[side] += latencies
                paced = [variant(base, 10_000 + n) for n in range(PACED[label])]
                one_by_one = await ours(api, clients, paced, first, thumbnails, width=1)
                first += len(paced)
                measured.paced_ids = one_by_one.photo_ids
                _report(results, label, measured, thumbnails)
    finally:
        await sub.unsubscribe()
        await nc.drain()


def _report(results: Results, label: str, m: Measured, thumbnails: Thumbnails) -> None:
    ours_mb, raw_mb = median(m.mb["ours"]), median(m.mb["raw"])
    burst = latency_ms(thumbnails.after_answer(m.burst_ids))
    paced = latency_ms(thumbnails.after_answer(m.paced_ids))
    results.record(SECTION, label, {
        "bytes": m.size, "in_flight": IN_FLIGHT, "mb_per_s_ours": m.mb["ours"],
        "mb_per_s_raw": m.mb["raw"], "mb_per_s_checked_then_raw": m.mb["checked"],
        "latency_ours": latency_ms(m.lat["ours"]),
        "latency_raw": latency_ms(m.lat["raw"]), "errors": m.errors,
        "time_to_thumbnail_after_answer_burst": burst,
        "time_to_thumbnail_after_sending_burst": latency_ms(thumbnails.after_sending(m.burst_ids)),
        "time_to_thumbnail_after_answer_one_at_a_time": paced,
        "time_to_thumbnail_after_sending_one_at_a_time": latency_ms(
            thumbnails.after_sending(m.paced_ids)
        ),
    })  # fmt: skip
    goal = 0.6 if label == "5 MB" else 0.3
    results.add(Row(SECTION, f"upload {label} ({IN_FLIGHT} in flight)", ours_mb, "MB/s",
                    raw_mb, "raw S3", f">={goal}x raw", ours_mb >= goal * raw_mb))  # fmt: skip
    results.add(Row(SECTION, f"floor {label}: the check, then a raw put", median(m.mb["checked"]),
                    "MB/s", raw_mb, "raw S3"))  # fmt: skip
    ours_ms, raw_ms = latency_ms(m.lat["ours"]), latency_ms(m.lat["raw"])
    results.add(Row(SECTION, f"upload {label} latency p99", ours_ms["p99_ms"], "ms",
                    raw_ms["p99_ms"], "raw S3"))  # fmt: skip
    for how, figures in ((f"{IN_FLIGHT} in flight", burst), ("one at a time", paced)):
        results.add(Row(SECTION, f"{label} answer to thumbnail p50 / p99 ({how})",
                        figures["p50_ms"], "ms", figures["p99_ms"], "p99",
                        compare=False))  # fmt: skip
    if m.errors:
        results.add(Row(SECTION, f"upload {label} errors", float(m.errors), "", None, "", "0",
                        False))  # fmt: skip
