// The board: every work order the caller may see, with status, crew, due time and overdue, and
// what is missing; filtered by status and overdue (by the API) and by technician, searched by
// title, site (name, address) and asset (id, model, serial). The office's board follows the
// live event stream: each event re-reads only its own work order's row.

import { fresh, get, me, statuses } from "./api.js";
import { announce, assetText, h, isOverdue, missingText, show, siteText, when, words } from "./dom.js";
import { coalesced, watch } from "./live.js";

const filters = { text: "", status: "", overdue: false, technician: "" };
const MODES = {
  live: "Live: changes appear as they happen",
  polling: "Updated every 5 seconds",
  reconnecting: "Reconnecting to the live updates…",
};

export function searchable(wo) {
  const site = wo.site || {};
  const asset = wo.asset || {};
  return [wo.title, site.name, site.address, asset.id, asset.model, asset.serial]
    .filter(Boolean).join(" ").toLowerCase();
}

const crewOf = (wo) => [wo.crew.leader, ...wo.crew.members];

export async function boardPage() {
  const who = me();
  const table = h("tbody");
  const count = h("p", { class: "live", id: "board-count", role: "status" });
  const mode = h("p", { class: "live", id: "live-mode" }, "Loading…");
  const technician = h("select", { id: "f-technician" }, h("option", { value: "" }, "Anyone"));
  let orders = new Map();
  let changed = new Set();

  const render = () => {
    const text = filters.text.trim().toLowerCase();
    const shown = [...orders.values()].filter((wo) => (!text || searchable(wo).includes(text))
      && (!filters.technician || crewOf(wo).includes(filters.technician)));
    table.replaceChildren(...shown.map((wo) => row(wo, changed.has(wo.id))));
    changed = new Set();
    count.textContent = `${shown.length} of ${orders.size} work orders`;
    const people = [...new Set([...orders.values()].flatMap(crewOf))].sort();
    if (people.join("\n") !== technician.dataset.people) { // an open list is left alone
      technician.dataset.people = people.join("\n");
      technician.replaceChildren(h("option", { value: "" }, "Anyone"),
        ...people.map((p) => h("option", { value: p, selected: p === filters.technician }, p)));
    }
  };
  const wanted = (wo) => (!filters.status || wo.status === filters.status)
    && (!filters.overdue || isOverdue(wo));

  const load = async () => {
    const query = new URLSearchParams({ limit: "500" });
    if (filters.status) query.set("status", filters.status);
    if (filters.overdue) query.set("overdue", "true");
    orders = new Map((await get(`/work-orders?${query}`)).map((wo) => [wo.id, wo]));
    render();
  };
  const reload = coalesced(load);

  // An event of one work order: its row read again, once the view shows the event.
  const pending = new Map();
  const update = coalesced(async () => {
    const batch = [...pending];
    pending.clear();
    for (const [id, seq] of batch) {
      const wo = await fresh(`/work-orders/${id}`, seq).catch(() => null);
      if (!wo) continue;
      if (!wanted(wo)) { orders.delete(id); continue; }
      if (!orders.has(id)) orders = new Map([[id, wo], ...orders]);
      else orders.set(id, wo);
      changed.add(id);
      if (batch.length === 1) announce(`${wo.title}: ${words(wo.status)}`);
    }
    render();
  });
  const onEvent = ({ data }) => {
    pending.set(data.work_order_id, Math.max(pending.get(data.work_order_id) || 0, data.seq));
    update();
  };

  const search = h("input", { id: "f-text", type: "search", value: filters.text, autocomplete: "off",
    oninput: (e) => { filters.text = e.target.value; render(); } });
  const status = h("select", { id: "f-status", onchange: (e) => { filters.status = e.target.value; reload(); } },
    h("option", { value: "" }, "Any status"),
    ...(await statuses()).map((s) => h("option", { value: s, selected: s === filters.status }, words(s))));
  const overdue = h("input", { id: "f-overdue", type: "checkbox", checked: filters.overdue,
    onchange: (e) => { filters.overdue = e.target.checked; reload(); } });
  technician.addEventListener("change", (e) => { filters.technician = e.target.value; render(); });

  show(
    h("h1", {}, who.office ? "Work orders" : "My work orders"),
    h("div", { class: "filters", role: "search" },
      h("div", {}, h("label", { for: "f-text" }, "Search title, site or asset"), search),
      h("div", {}, h("label", { for: "f-status" }, "Status"), status),
      h("div", {}, h("label", { for: "f-technician" }, "Technician"), technician),
      h("div", { class: "check" }, overdue, h("label", { for: "f-overdue" }, "Overdue only"))),
    h("div", { class: "board-head" }, count, mode),
    h("table", { class: "board", id: "board" },
      h("caption", { class: "visually-hidden" }, "Work orders"),
      h("thead", {}, h("tr", {}, ...["Work order", "Status", "Crew", "Due", "Missing"].map((c) => h("th", { scope: "col" }, c)))),
      table),
  );
  await load();
  return watch("/events", {
    live: who.office, // the feed of every work order is the office's; the crew's board polls
    onEvent,
    onResync: () => reload(),
    onMode: (m) => { mode.textContent = MODES[m]; mode.dataset.mode = m; },
  });
}

function row(wo, changed) {
  const cancelled = wo.status === "cancelled";
  const missing = cancelled ? h("span", { class: "muted" }, "— (cancelled)")
    : wo.missing.length ? h("ul", { class: "missing" }, wo.missing.map((m) => h("li", {}, missingText(m))))
      : h("span", { class: "muted" }, "nothing");
  const where = [siteText(wo.site), assetText(wo.asset)].filter(Boolean).join(" · ");
  return h("tr", { "data-id": wo.id, class: changed ? "changed" : null },
    h("td", { "data-label": "Work order" },
      h("div", {}, h("a", { href: `#/work-orders/${wo.id}` }, wo.title),
        where ? h("div", { class: "muted" }, where) : null)),
    h("td", { "data-label": "Status" }, h("div", { class: "badges" },
      h("span", { class: `badge ${wo.status}` }, words(wo.status)),
      wo.report_version > 1 ? h("span", { class: "badge" }, `report v${wo.report_version}`) : null,
      isOverdue(wo) ? h("span", { class: "badge overdue" }, "overdue") : null)),
    h("td", { "data-label": "Crew" }, h("div", {}, h("strong", {}, wo.crew.leader), " (leader)",
      wo.crew.members.length ? h("div", { class: "muted" }, wo.crew.members.join(", ")) : null)),
    h("td", { "data-label": "Due" }, when(wo.due_at)),
    h("td", { "data-label": "Missing" }, missing),
  );
}
