"""The web console in a real browser: Playwright for Python driving Debian's Chromium against
the running system, as a dispatcher, a technician and an analyst would use it.

Each page is saved as a screenshot under ``test-output/console/`` for a person to look at.
Controls are found by their labels and roles, so the labels are tested with everything else.
"""

from __future__ import annotations

import asyncio
import io
import re
from datetime import datetime, timedelta
from pathlib import Path
from uuid import uuid4

import httpx
from fieldcrew_shared.eventstore import EventStore
from playwright.async_api import Browser, BrowserContext, expect
from pypdf import PdfReader

from tests.conftest import TokenFactory
from tests.e2e.conftest import WAIT_MS, Crew, issue, play_crew_flow, row, sign_in


async def test_a_dispatcher_issues_watches_reports_and_shares(
    context: BrowserContext,
    browser: Browser,
    gateway_url: str,
    api: httpx.AsyncClient,
    crew: Crew,
    log: EventStore,
    shots: Path,
) -> None:
    page = await context.new_page()
    await sign_in(page, crew.tokens[crew.dispatcher])
    await expect(page.get_by_text(f"{crew.dispatcher} · dispatcher")).to_be_visible()

    # The issue form shows the API's own validation messages beside their fields: the site,
    # asset and customer are records, each field with its own message.
    await page.get_by_role("link", name="Issue a work order").click()
    await page.get_by_label("Crew members (user ids)").fill(f"{crew.leader}, x" * 30)
    await page.get_by_label("Photos each crew member must upload").fill("99")
    await page.get_by_label("Site name").fill("Depot North")
    await page.get_by_label("Email").fill("not an address")
    await page.get_by_role("button", name="Issue the work order").click()
    await expect(page.locator("#title-error")).not_to_be_empty()
    await expect(page.get_by_label("Title")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#crew\\.leader-error")).not_to_be_empty()
    await expect(page.locator("#min_photos_per_member-error")).to_contain_text("50")
    await expect(page.locator("#site\\.address-error")).to_contain_text("at least 1 character")
    await expect(page.get_by_label("Address")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#customer\\.name-error")).not_to_be_empty()
    await expect(page.locator("#customer\\.email-error")).to_contain_text("Not an email address")
    await expect(page.locator("#site-error")).to_be_empty()  # nothing said of plain text
    await page.screenshot(path=shots / "issue-form-errors.png", full_page=True)

    title = f"Chiller C-{uuid4().hex[:6]} trips"
    await page.get_by_label("Title").fill(title)
    await page.get_by_label("Address").fill("4 Quay Road, Hull")
    await page.get_by_label("Latitude").fill("53.74")
    await page.get_by_role("button", name="Issue the work order").click()
    await expect(page.locator("#site-error")).to_contain_text("give both lat and lon")
    await page.get_by_label("Longitude").fill("-0.33")
    await page.get_by_label("Asset id").fill("CH-7")
    await page.get_by_label("Model").fill("Carrier 30XA")
    await page.get_by_label("Serial number").fill("SN-88412")
    await page.get_by_label("Customer name").fill("Hull Cold Store Ltd")
    await page.get_by_label("Phone").fill("+44 1482 000111")
    await page.get_by_label("Email").fill("facilities@hullcold.example")
    await page.get_by_label("Priority").select_option("high")
    due = (datetime.now() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    await page.get_by_label("Due").fill(due)
    await page.get_by_label("Crew leader (user id)").fill(crew.leader)
    await page.get_by_label("Crew members (user ids)").fill(", ".join(crew.members))
    await page.get_by_label("Photos each crew member must upload").fill("1")
    await page.get_by_role("button", name="Issue the work order").click()
    await expect(page).to_have_url(re.compile(r"#/work-orders/[0-9a-f-]{36}$"))
    work_order_id = page.url.rsplit("/", 1)[1]
    await expect(page.locator("#status")).to_have_text("issued")
    await expect(page.locator("#site")).to_contain_text("Depot North, 4 Quay Road, Hull")
    await expect(page.locator("#site")).to_contain_text("53.74, -0.33")
    await expect(page.locator("#asset")).to_have_text("CH-7 (Carrier 30XA, s/n SN-88412)")
    await expect(page.locator("#customer")).to_contain_text("facilities@hullcold.example")

    # The board: searched (by the asset's serial number too), filtered, and updated as the
    # crew works through the API.
    await page.get_by_role("link", name="Work orders", exact=True).click()
    await page.get_by_label("Search title, site or asset").fill("sn-88412")
    await expect(row(page, title)).to_have_count(1)
    await page.get_by_label("Search title, site or asset").fill("CH-7")
    await expect(row(page, title)).to_contain_text("overdue")
    await page.get_by_label("Overdue only").check()
    await page.get_by_label("Technician").select_option(crew.members[1])
    await expect(row(page, title)).to_have_count(1)
    await expect(row(page, title)).to_contain_text("photos from")
    await page.screenshot(path=shots / "board.png", full_page=True)
    await page.get_by_label("Overdue only").uncheck()  # a completed work order is not overdue
    await play_crew_flow(api, crew, log, work_order_id, seed=300)
    await expect(row(page, title).locator(".badge.completed")).to_be_visible()
    await page.screenshot(path=shots / "board-updated.png", full_page=True)

    # The work order: timeline, photos with provenance, the report and its PDF.
    await row(page, title).get_by_role("link", name=title).click()
    # issued, a note, a photo and its copies from each, the report, the compiled report
    await expect(page.locator("#timeline li")).to_have_count(1 + 3 * len(crew.everyone) + 2)
    await expect(page.locator("#timeline")).to_contain_text(f"by {crew.leader} (technician)")
    await expect(page.locator("#photos img")).to_have_count(len(crew.everyone))
    photos = (await api.get(f"/work-orders/{work_order_id}/photos",
                            headers=crew.auth(crew.dispatcher))).json()  # fmt: skip
    for photo in photos:
        await expect(page.locator("#photos")).to_contain_text(photo["sha256"])
    await expect(page.locator("#reports")).to_contain_text("Seal replaced, pump tested")
    await expect(page.locator("#notes")).to_contain_text("merged")
    await expect(page.locator("#revisions")).to_contain_text("first compiled")
    await page.screenshot(path=shots / "work-order.png", full_page=True)
    async with page.expect_download() as waiting:
        await page.get_by_role("button", name="Download PDF (revision 1)").click()
    download = await waiting.value
    saved = await asyncio.to_thread(Path(await download.path()).read_bytes)
    pdf = PdfReader(io.BytesIO(saved))
    assert title in " ".join(pdf.pages[0].extract_text().split())

    # A share link, opened by someone with no account, then revoked.
    await page.get_by_label("Valid for (hours, at most 720)").fill("721")
    await page.get_by_role("button", name="Create a share link").click()
    await expect(page.locator("#share\\.expires_in_hours-error")).to_contain_text("720")
    await page.get_by_label("Valid for (hours, at most 720)").fill("24")
    await page.get_by_role("button", name="Create a share link").click()
    url = await page.get_by_label("The link (shown this once):").input_value()
    assert url.startswith(f"{gateway_url}/share/")
    stranger = await browser.new_context()
    shared = await stranger.new_page()
    answer = await shared.goto(url)
    assert answer is not None and answer.status == 200
    await expect(shared.get_by_role("heading", name=f"Repair report: {title}")).to_be_visible()
    await expect(shared.locator(".photos img")).to_have_count(len(crew.everyone))
    await shared.screenshot(path=shots / "share-page.png", full_page=True)
    await page.get_by_role("button", name=re.compile("^Revoke the link")).click()
    await expect(page.locator("#share-links")).to_contain_text("revoked")
    answer = await shared.goto(url)
    assert answer is not None and answer.status == 410
    await stranger.close()


async def test_an_analyst_reads_without_acting_and_a_phone_fits(
    context: BrowserContext,
    browser: Browser,
    gateway_url: str,
    api: httpx.AsyncClient,
    crew: Crew,
    log: EventStore,
    token: TokenFactory,
    shots: Path,
) -> None:
    title = f"Boiler B-{uuid4().hex[:6]} service"
    work_order_id = await issue(api, crew, title=title)
    await play_crew_flow(api, crew, log, work_order_id, seed=500)
    page = await context.new_page()
    await sign_in(page, token(f"ana-{uuid4().hex[:6]}", "analyst"))
    await expect(page.get_by_text("(read-only)")).to_be_visible()
    await expect(page.get_by_role("link", name="Issue a work order")).to_have_count(0)
    await page.goto(f"/console/#/work-orders/{work_order_id}")
    await expect(page.locator("#revisions")).to_contain_text("Revision 1")
    await expect(page.locator("#timeline li").first).to_be_visible()
    await expect(page.locator("#actions")).to_have_count(0)
    await expect(page.get_by_role("button", name=re.compile("Download PDF"))).to_have_count(0)
    await page.screenshot(path=shots / "analyst-work-order.png", full_page=True)

    phone = await browser.new_context(base_url=gateway_url, viewport={"width": 390, "height": 844},
                                      is_mobile=True, has_touch=True)  # fmt: skip
    small = await phone.new_page()
    small.set_default_timeout(WAIT_MS)
    await sign_in(small, crew.tokens[crew.dispatcher])
    await small.get_by_label("Search title, site or asset").fill(title)
    await expect(row(small, title)).to_have_count(1)
    assert await small.evaluate("document.documentElement.scrollWidth") <= 390
    await small.screenshot(path=shots / "board-phone.png", full_page=True)
    await small.goto(f"/console/#/work-orders/{work_order_id}")
    await expect(small.locator("#revisions")).to_contain_text("Revision 1")
    assert await small.evaluate("document.documentElement.scrollWidth") <= 390
    await small.screenshot(path=shots / "work-order-phone.png", full_page=True)
    await phone.close()


async def test_signing_in_by_keyboard_alone(
    context: BrowserContext, token: TokenFactory, shots: Path
) -> None:
    page = await context.new_page()
    await page.goto("/console/")
    await expect(page.locator("main")).to_be_focused()  # each page starts at its content
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Bearer token")).to_be_focused()
    await page.keyboard.type("not a token")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#token-error")).to_contain_text("not a token")
    await expect(page.get_by_label("Bearer token")).to_be_focused()
    await page.screenshot(path=shots / "sign-in.png", full_page=True)
    await page.get_by_label("Bearer token").fill(token(f"dee-{uuid4().hex[:6]}", "dispatcher"))
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.locator("#board")).to_be_visible()
