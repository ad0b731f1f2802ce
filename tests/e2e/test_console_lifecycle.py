"""The console on the lifecycle API, in Chromium: a dispatcher cancels a work order, changes a
crew and sends a report back, each against the real API (its refusals shown as it answers
them), and watches version 2 of the report arrive on the board and the work order's page
from the live event streams, without reloading. The streams are read with the token in the
Authorization header, never in a URL.

Screenshots of each state go to ``test-output/console/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
from fieldcrew_shared.eventstore import EventStore
from playwright.async_api import BrowserContext, Page, Request, expect

from tests.e2e.conftest import REPORT, Crew, issue, play_crew_flow, row, sign_in

STAY = "window.stayed = true"  # a reload would forget it
DISPATCHER_BUTTONS = [
    "Cancel the work order", "Change the crew", "Send the report back", "Create a share link"
]  # fmt: skip


def listen(page: Page, seen: list[tuple[str, str | None]]) -> None:
    """Record every request the page makes to the API: its URL and Authorization header."""

    def record(request: Request) -> None:
        if "/api/v1/" in request.url:
            seen.append((request.url, request.headers.get("authorization")))

    page.on("request", record)


async def phone(page: Page, shot: Path) -> None:
    """The same page at a phone's width: nothing wider than the screen."""
    await page.set_viewport_size({"width": 390, "height": 844})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.screenshot(path=shot, full_page=True)


async def live(page: Page) -> None:
    await expect(page.locator("#live-mode")).to_have_attribute("data-mode", "live")


async def test_a_dispatcher_cancels_changes_a_crew_and_rejects_a_report_live(
    context: BrowserContext, api: httpx.AsyncClient, crew: Crew, log: EventStore, shots: Path
) -> None:
    tag = uuid4().hex[:6]
    doomed, lift = f"Gate G-{tag} jammed", f"Lift L-{tag} stalls"
    site: dict[str, Any] = {"name": "Yard 3", "address": "1 Dock Street"}
    doomed_id = await issue(api, crew, title=doomed, site=site, asset={"id": f"G-{tag}"})
    lift_id = await issue(api, crew, title=lift, site=site, asset={"id": f"L-{tag}"})
    seen: list[tuple[str, str | None]] = []
    page = await context.new_page()
    listen(page, seen)
    await sign_in(page, crew.tokens[crew.dispatcher])
    await live(page)
    await page.evaluate(STAY)
    statuses = await page.get_by_label("Status").locator("option").all_inner_texts()
    assert statuses[1:] == [
        "issued", "in progress", "report submitted", "rework", "completed", "cancelled"
    ]  # fmt: skip

    # Cancel one: the API's 422 beside the reason, then who cancelled it, when and why.
    await row(page, doomed).get_by_role("link", name=doomed).click()
    await live(page)
    await page.get_by_role("button", name="Cancel the work order").click()
    await expect(page.locator("#cancel\\.reason-error")).to_contain_text("at least 1 character")
    await page.get_by_label("Why it is cancelled").fill("The customer withdrew the job")
    await page.get_by_role("button", name="Cancel the work order").click()
    await expect(page.locator("#status")).to_have_text("cancelled")
    await expect(page.locator("#cancelled")).to_contain_text(f"Cancelled by {crew.dispatcher}")
    await expect(page.locator("#cancelled")).to_contain_text("The customer withdrew the job")
    await expect(page.locator("#lifecycle-actions")).to_be_hidden()
    await expect(page.locator("#timeline")).to_contain_text("work order cancelled")
    await page.screenshot(path=shots / "work-order-cancelled.png", full_page=True)

    # The other: no report to send back yet (409 and its code); then a new crew.
    await page.get_by_role("link", name="← All work orders").click()
    await page.get_by_label("Status").select_option("cancelled")
    await expect(row(page, doomed).locator(".badge.cancelled")).to_be_visible()
    await expect(row(page, lift)).to_have_count(0)
    await page.get_by_label("Status").select_option("")
    await row(page, lift).get_by_role("link", name=lift).click()
    await live(page)
    await page.get_by_label("What is to be reworked").fill("Photos are blurred")
    await page.get_by_role("button", name="Send the report back").click()
    await expect(page.locator("#reject-errors")).to_contain_text("409 report_not_submitted")
    await expect(page.get_by_label("New leader (user id)")).to_have_value(crew.leader)
    members = [crew.members[0], crew.members[1], crew.outsider]
    await page.get_by_label("New members (user ids, comma separated)").fill(", ".join(members))
    await page.get_by_role("button", name="Change the crew").click()
    changes = page.locator("#crew-changes")
    await expect(changes).to_contain_text(f"Change 1 by {crew.dispatcher}")
    lead = f"{crew.leader} (leader)"
    await expect(changes).to_contain_text(f"from {', '.join([lead, *crew.members])}")
    await expect(changes).to_contain_text(f"to {', '.join([lead, *members])}")
    await expect(page.locator("#crew tbody")).to_contain_text(crew.outsider)

    # The new crew works through the API; the page follows, then the report goes back.
    new_crew = Crew(crew.dispatcher, crew.leader, members, crew.members[2], crew.tokens)
    await play_crew_flow(api, new_crew, log, lift_id, seed=700)
    await expect(page.locator("#status")).to_have_text("completed")
    await expect(page.locator('#reports [data-version="1"]')).to_contain_text("current")
    await page.get_by_label("What is to be reworked").fill("The seal's part number is wrong")
    await page.get_by_role("button", name="Send the report back").click()
    await expect(page.locator("#status")).to_have_text("rework")
    await expect(page.locator("#rework")).to_contain_text(f"sent back by {crew.dispatcher}")
    await expect(page.locator('#reports [data-version="1"]')).to_contain_text("rejected")
    await page.screenshot(path=shots / "work-order-rework.png", full_page=True)

    # Version 2 arrives on this page and on a board open beside it, without a reload.
    board = await context.new_page()
    listen(board, seen)
    await sign_in(board, crew.tokens[crew.dispatcher])
    await live(board)
    await board.evaluate(STAY)
    await expect(row(board, lift).locator(".badge.rework")).to_be_visible()
    second = {**REPORT, "summary": "Seal SEAL-41 fitted, pump tested"}
    r = await api.post(
        f"/work-orders/{lift_id}/report", json=second, headers=crew.auth(crew.leader)
    )
    assert r.status_code == 201 and r.json()["version"] == 2, r.text
    await expect(page.locator('#reports [data-version="2"]')).to_contain_text("SEAL-41 fitted")
    await expect(page.locator('#reports [data-version="1"]')).to_contain_text("rejected")
    await expect(page.locator("#timeline")).to_contain_text("report version 2")
    await expect(page.locator("#revisions")).to_contain_text("Revision 2")
    await expect(page.locator("#status")).to_have_text("completed")
    await expect(row(board, lift)).to_contain_text("report v2")
    await expect(row(board, lift).locator(".badge.completed")).to_be_visible()
    assert await page.evaluate("window.stayed") and await board.evaluate("window.stayed")
    await page.screenshot(path=shots / "work-order-version-2.png", full_page=True)
    await phone(page, shots / "work-order-version-2-phone.png")
    await board.get_by_label("Search title, site or asset").fill(tag)
    await board.screenshot(path=shots / "board-live.png", full_page=True)

    # Both streams were read with the token in the header, never in a URL.
    token = crew.tokens[crew.dispatcher]
    streams = {url.split("/api/v1")[1]: auth for url, auth in seen if url.endswith("/events")}
    assert set(streams) == {
        "/events", f"/work-orders/{doomed_id}/events", f"/work-orders/{lift_id}/events"
    }  # fmt: skip
    assert set(streams.values()) == {f"Bearer {token}"}
    assert not [url for url, _ in seen if token in url or "token=" in url]


async def test_a_technician_can_neither_see_nor_reach_dispatcher_actions(
    context: BrowserContext, api: httpx.AsyncClient, crew: Crew, log: EventStore, shots: Path
) -> None:
    work_order_id = await issue(api, crew, title=f"Hoist H-{uuid4().hex[:6]} slips")
    await play_crew_flow(api, crew, log, work_order_id, seed=800)
    r = await api.post(
        f"/work-orders/{work_order_id}/report/reject",
        json={"reason": "Add the torque values"},
        headers=crew.auth(crew.dispatcher),
    )
    assert r.status_code == 200, r.text
    page = await context.new_page()
    await sign_in(page, crew.tokens[crew.leader])
    await expect(page.locator("#live-mode")).to_have_attribute("data-mode", "polling")
    await expect(page.get_by_role("link", name="Issue a work order")).to_have_count(0)
    await page.goto("/console/#/issue")
    await expect(page.get_by_role("alert")).to_contain_text("Only dispatchers")
    await page.goto(f"/console/#/work-orders/{work_order_id}")
    await expect(page.locator("#rework")).to_contain_text("Add the torque values")
    await expect(page.locator('#reports [data-version="1"]')).to_contain_text("rejected")
    await expect(page.locator("#live-mode")).to_have_attribute("data-mode", "live")
    await expect(page.locator("#actions")).to_have_count(0)
    await expect(page.locator("#photos img")).to_have_count(len(crew.everyone))
    for name in DISPATCHER_BUTTONS:
        await expect(page.get_by_role("button", name=name)).to_have_count(0)
    await page.screenshot(path=shots / "technician-rework.png", full_page=True)
    await phone(page, shots / "technician-rework-phone.png")
    # Nor by hand with the technician's own token: the API refuses every one.
    answers = await page.evaluate(
        """async (base) => {
             const send = async (method, path, body) => (await fetch(base + path, {method,
               headers: {"Content-Type": "application/json",
                         "Authorization": "Bearer " + sessionStorage.getItem("fieldcrew.token")},
               body: JSON.stringify(body)})).status;
             return [await send("POST", "/cancel", {reason: "mine"}),
                     await send("PUT", "/crew", {leader: "me", members: []}),
                     await send("POST", "/report/reject", {reason: "mine"}),
                     await send("POST", "/share-links", {expires_in_hours: 1})];
           }""",
        f"/api/v1/work-orders/{work_order_id}",
    )
    assert answers == [403, 403, 403, 403]


async def test_the_board_polls_while_its_stream_is_down_then_follows_it_again(
    context: BrowserContext, api: httpx.AsyncClient, crew: Crew
) -> None:
    title = f"Fan F-{uuid4().hex[:6]} hums"
    work_order_id = await issue(api, crew, title=title)
    page = await context.new_page()
    down = "**/api/v1/events"
    await page.route(down, lambda route: route.abort("connectionrefused"))
    await sign_in(page, crew.tokens[crew.dispatcher])
    await expect(page.locator("#live-mode")).to_have_attribute("data-mode", "polling")
    r = await api.post(f"/work-orders/{work_order_id}/start", headers=crew.auth(crew.leader))
    assert r.status_code == 200, r.text
    await expect(row(page, title).locator(".badge.in_progress")).to_be_visible()
    await page.unroute(down)
    await live(page)
    r = await api.post(
        f"/work-orders/{work_order_id}/cancel",
        json={"reason": "Duplicate of another job"},
        headers=crew.auth(crew.dispatcher),
    )
    assert r.status_code == 200, r.text
    await expect(row(page, title).locator(".badge.cancelled")).to_be_visible()
