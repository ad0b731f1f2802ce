"""The customer PDF and share links, through the gateway, against the running system.

The PDF is read back with pypdf (text, pages, images) and its first page drawn with Debian's
``pdftoppm`` into ``test-output/`` for a person to look at. Share links are opened without a
token as a customer would, then revoked, expired, tampered with and pointed elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
from fieldcrew_cli.servers import Infra
from fieldcrew_cli.stack import Stack
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.events import ShareLinkCreated
from fieldcrew_shared.eventstore import EventStore, connect
from fieldcrew_shared.fingerprint import fingerprint
from fieldcrew_shared.natsclient import inbox_prefix
from pypdf import PdfReader

from tests.e2e.conftest import Crew, ReportWatcher, history, issue, play_crew_flow
from tests.images import scene
from tests.renditions import all_made

WHEN = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
PLACE = (48.137154, 11.576124)


@pytest.fixture
async def gateway(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.env["FIELDCREW_GATEWAY_URL"], timeout=30) as c:
        yield c


async def completed(api: httpx.AsyncClient, crew: Crew, log: EventStore) -> str:
    wo = await issue(
        api,
        crew,
        title="Pump P-104 leaks at the seal",
        site="Plant 2, hall B",
        asset="P-104",
        description="Leak reported by the night shift",
    )
    await play_crew_flow(api, crew, log, wo, seed=int(uuid4().int % 10_000))
    return wo


async def add_photo(api: httpx.AsyncClient, crew: Crew, log: EventStore, wo: str) -> None:
    """A late photo with capture time and place: revision 2 of the report."""
    async with ReportWatcher(log, wo) as watcher:
        files = {"file": ("late.jpg", scene(7, exif_time=WHEN, gps=PLACE), "image/jpeg")}
        r = await api.post(
            f"/work-orders/{wo}/photos", files=files, headers=crew.auth(crew.members[0])
        )
        assert r.status_code == 201, r.text
        await watcher.revision(2)
    await all_made(log, wo)  # the PDF prints the served copies


async def draw_first_page(pdf: bytes, stem: Path) -> None:
    """Page 1 of ``pdf`` as ``<stem>.png`` (Debian's pdftoppm, poppler-utils)."""
    args = ["-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", "-", str(stem)]
    proc = await asyncio.create_subprocess_exec("pdftoppm", *args, stdin=asyncio.subprocess.PIPE)
    await proc.communicate(pdf)
    assert proc.returncode == 0


def pdf_text(data: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(data))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


async def test_the_customer_pdf_holds_the_whole_report(
    api: httpx.AsyncClient, crew: Crew, log: EventStore, output_dir: Path
) -> None:
    wo = await completed(api, crew, log)
    await add_photo(api, crew, log, wo)
    r = await api.get(f"/work-orders/{wo}/server-report.pdf", headers=crew.auth(crew.dispatcher))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert "attachment" in r.headers["content-disposition"]
    report = (
        await api.get(f"/work-orders/{wo}/server-report", headers=crew.auth(crew.dispatcher))
    ).json()
    assert report["revision"] == 2
    reader, text = pdf_text(r.content)
    flat = " ".join(text.split())
    for expected in (
        "Pump P-104 leaks at the seal",
        "Plant 2, hall B",
        "P-104",
        wo,
        "Seal replaced, pump tested",
        "SEAL-40",
        "Resolved",
        crew.leader,
        *crew.members,
        "leader",
        "member",
        fingerprint(report),
        "48.137154, 11.576124",
        "2026-11-02 09:30 UTC",
    ):
        assert expected in flat, expected
    unbroken = "".join(text.split())  # a long hash wraps in its table cell
    for photo in report["photos"]:
        assert photo["sha256"] in unbroken
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == len(report["photos"]) == len(crew.everyone) + 1
    assert f"revision {report['revision']}" in flat
    first = output_dir / "customer-report"
    await draw_first_page(r.content, first)
    assert (output_dir / "customer-report.png").stat().st_size > 10_000
    (output_dir / "customer-report.pdf").write_bytes(r.content)

    older = await api.get(
        f"/work-orders/{wo}/server-report.pdf?revision=1", headers=crew.auth(crew.leader)
    )
    first_report = (
        await api.get(f"/work-orders/{wo}/server-report?revision=1", headers=crew.auth(crew.leader))
    ).json()
    _, older_text = pdf_text(older.content)
    older_flat = " ".join(older_text.split())
    assert fingerprint(first_report) in older_flat and fingerprint(report) not in older_flat
    assert len([i for p in PdfReader(io.BytesIO(older.content)).pages for i in p.images]) == 4


async def test_who_may_download_the_pdf(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await completed(api, crew, log)
    path = f"/work-orders/{wo}/server-report.pdf"
    statuses = {
        who: (await api.get(path, headers=crew.auth(who))).status_code
        for who in (
            crew.dispatcher,
            crew.leader,
            crew.members[1],
            crew.outsider,
            f"ana-{crew.dispatcher[5:]}",
        )
    }
    assert list(statuses.values()) == [200, 200, 200, 403, 403]  # the analyst: no photos
    assert (await api.get(f"{path}?revision=9", headers=crew.auth(crew.leader))).status_code == 404
    fresh = await issue(api, crew)
    r = await api.get(f"/work-orders/{fresh}/server-report.pdf", headers=crew.auth(crew.leader))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_compiled"
    assert (
        await api.get(
            f"/work-orders/{uuid4()}/server-report.pdf", headers=crew.auth(crew.dispatcher)
        )
    ).status_code == 404


async def share(api: httpx.AsyncClient, crew: Crew, wo: str, **body: object) -> dict[str, str]:
    r = await api.post(
        f"/work-orders/{wo}/share-links",
        headers=crew.auth(crew.dispatcher),
        json={"expires_in_hours": 48, **body},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def token_of(url: str) -> str:
    return url.rsplit("/share/", 1)[1]


async def test_a_share_link_opens_its_report_without_a_token_until_revoked(
    api: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    crew: Crew,
    log: EventStore,
    output_dir: Path,
) -> None:
    wo = await completed(api, crew, log)
    link = await share(api, crew, wo)
    token = token_of(link["url"])
    assert len(base64.urlsafe_b64decode(token + "==")[32:]) * 8 >= 128  # the secret's bits
    assert link["url"].startswith(str(gateway.base_url)) and link["revision"] == 1
    page = await gateway.get(f"/share/{token}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "no-store" in page.headers["cache-control"]
    assert "Pump P-104 leaks at the seal" in page.text and "Seal replaced, pump tested" in page.text
    (output_dir / "share-page.html").write_text(page.text)
    report = (
        await api.get(f"/work-orders/{wo}/server-report", headers=crew.auth(crew.dispatcher))
    ).json()
    assert fingerprint(report) in page.text
    for photo in report["photos"]:
        src = f"/share/{token}/photos/{photo['photo_id']}"
        assert src in page.text
        image = await gateway.get(src)
        assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
    pdf = await gateway.get(f"/share/{token}/report.pdf")
    assert pdf.status_code == 200 and fingerprint(report) in " ".join(
        pdf_text(pdf.content)[1].split()
    )

    events = (await history(log, wo, "documents")).records
    assert [r.event.name for r in events] == [
        "ShareLinkCreated",
        "ShareLinkViewed",
        "ShareLinkViewed",
    ]
    assert token not in json.dumps([r.envelope.model_dump(mode="json") for r in events])
    assert events[0].envelope.actor == crew.dispatcher
    listed = (
        await api.get(f"/work-orders/{wo}/share-links", headers=crew.auth(crew.dispatcher))
    ).json()
    assert [(x["id"], x["state"], x["views"]) for x in listed] == [(link["id"], "active", 2)]

    revoke = f"/work-orders/{wo}/share-links/{link['id']}"
    assert (await api.delete(revoke, headers=crew.auth(crew.leader))).status_code == 403
    assert (await api.delete(revoke, headers=crew.auth(crew.dispatcher))).status_code == 204
    assert (await api.delete(revoke, headers=crew.auth(crew.dispatcher))).status_code == 204
    gone = await gateway.get(f"/share/{token}")
    assert gone.status_code == 410 and "revoked" in gone.text
    assert (await gateway.get(f"/share/{token}/report.pdf")).status_code == 410
    photo_id = report["photos"][0]["photo_id"]
    assert (await gateway.get(f"/share/{token}/photos/{photo_id}")).status_code == 410
    names = [r.event.name for r in (await history(log, wo, "documents")).records]
    assert names.count("ShareLinkRevoked") == 1
    missing = f"/work-orders/{wo}/share-links/{uuid4()}"
    assert (await api.delete(missing, headers=crew.auth(crew.dispatcher))).status_code == 404


async def test_who_may_share_and_with_what(
    api: httpx.AsyncClient, crew: Crew, log: EventStore
) -> None:
    wo = await completed(api, crew, log)
    path = f"/work-orders/{wo}/share-links"
    body = {"expires_in_hours": 1}
    for who in (crew.leader, crew.members[0], f"ana-{crew.dispatcher[5:]}"):
        assert (await api.post(path, json=body, headers=crew.auth(who))).status_code == 403
        assert (await api.get(path, headers=crew.auth(who))).status_code == 403
    for wrong in (
        {"expires_in_hours": 721},
        {"expires_in_hours": 0},
        {"expires_in_hours": "2"},
        {"expires_in_hours": 2, "revision": 0},
        {},
    ):
        r = await api.post(path, json=wrong, headers=crew.auth(crew.dispatcher))
        assert r.status_code == 422, wrong
    r = await api.post(
        path, json={"expires_in_hours": 2, "revision": 5}, headers=crew.auth(crew.dispatcher)
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_revision"
    fresh = await issue(api, crew)
    r = await api.post(
        f"/work-orders/{fresh}/share-links", json=body, headers=crew.auth(crew.dispatcher)
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_compiled"
    assert [r.event.name for r in (await history(log, wo, "documents")).records] == []


async def test_a_link_opens_only_its_own_report(
    api: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    crew: Crew,
    log: EventStore,
    infra: Infra,
) -> None:
    a = await completed(api, crew, log)
    b = await completed(api, crew, log)
    first = await share(api, crew, a, revision=1)
    await add_photo(api, crew, log, a)
    token = token_of(first["url"])
    reports = {
        n: (
            await api.get(
                f"/work-orders/{a}/server-report?revision={n}", headers=crew.auth(crew.dispatcher)
            )
        ).json()
        for n in (1, 2)
    }
    page = (await gateway.get(f"/share/{token}")).text
    assert fingerprint(reports[1]) in page and fingerprint(reports[2]) not in page
    late = reports[2]["photos"][-1]["photo_id"]
    assert late not in page
    assert (await gateway.get(f"/share/{token}/photos/{late}")).status_code == 404
    other = (
        await api.get(f"/work-orders/{b}/server-report", headers=crew.auth(crew.dispatcher))
    ).json()["photos"][0]["photo_id"]
    assert (await gateway.get(f"/share/{token}/photos/{other}")).status_code == 404
    assert (await gateway.get(f"/share/{token}?revision=2")).text.count(
        fingerprint(reports[2])
    ) == 0

    raw = base64.urlsafe_b64decode(token + "==")

    def forged(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    tampered = [
        forged(UUID(b).bytes + raw[16:]),  # the same link and secret on another work order
        forged(raw[:32] + bytes([raw[32] ^ 1]) + raw[33:]),  # one bit of the secret
        forged(raw[:16] + uuid4().bytes + raw[32:]),  # another link id
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        token[:40],
        token + "A",
        "x" * 86,
    ]
    for bad in tampered:
        for suffix in ("", "/report.pdf"):
            r = await gateway.get(f"/share/{bad}{suffix}")
            assert r.status_code == 404, (bad, suffix, r.status_code)

    # A link whose time is up: recorded by the documents service's own user as it would be.
    nc = await connect(
        infra.nats_urls["documents"], name="documents-test", inbox_prefix=inbox_prefix("documents")
    )
    try:
        store = EventStore(nc, source="fieldcrew/documents")
        secret = bytes(range(32))
        link_id = uuid4()

        await store.append(
            ShareLinkCreated(
                work_order_id=UUID(a),
                link_id=link_id,
                secret_sha256=hashlib.sha256(secret).hexdigest(),
                revision=1,
                expires_at=datetime.now(UTC) - timedelta(minutes=1),
                created_by=crew.dispatcher,
            ),
            Metadata(actor=crew.dispatcher, actorrole="dispatcher", correlationid="expired"),
        )
    finally:
        await nc.drain()
    expired = forged(UUID(a).bytes + link_id.bytes + secret)
    r = await gateway.get(f"/share/{expired}")
    assert r.status_code == 410 and "expired" in r.text
    assert (await gateway.get(f"/share/{expired}/report.pdf")).json()["error"]["code"] == (
        "share_link_expired"
    )
