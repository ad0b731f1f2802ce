// The board: every work order the caller may see, with status, crew, due time and what is
// missing; filtered by status, overdue and technician, searched by title, site and asset.

import { get, me, statuses } from "./api.js";
import { h, isOverdue, label, missingText, show, when, words } from "./dom.js";
import { watch } from "./live.js";

const filters = { text: "", status: "", overdue: false, technician: "" };

export async function boardPage() {
  const table = h("tbody");
  const count = h("p", { class: "live", id: "board-count" });
  const mode = h("p", { class: "live", id: "live-mode" }, "Loading…");
  const technician = h("select", { id: "f-technician" }, h("option", { value: "" }, "Anyone"));
  let orders = [];

  const render = () => {
    const text = filters.text.trim().toLowerCase();
    const shown = orders.filter((wo) => {
      const crew = [wo.crew.leader, ...wo.crew.members];
      const haystack = [wo.title, label(wo.site), label(wo.asset)].join(" ").toLowerCase();
      return (!text || haystack.includes(text))
        && (!filters.overdue || isOverdue(wo))
        && (!filters.technician || crew.includes(filters.technician));
    });
    table.replaceChildren(...shown.map(row));
    count.textContent = `${shown.length} of ${orders.length} work orders`;
  };

  const load = async () => {
    const query = filters.status ? `&status=${encodeURIComponent(filters.status)}` : "";
    orders = await get(`/work-orders?limit=500${query}`);
    const people = [...new Set(orders.flatMap((wo) => [wo.crew.leader, ...wo.crew.members]))].sort();
    const chosen = filters.technician;
    technician.replaceChildren(h("option", { value: "" }, "Anyone"),
      ...people.map((p) => h("option", { value: p, selected: p === chosen }, p)));
    render();
  };

  const search = h("input", { id: "f-text", type: "search", value: filters.text,
    oninput: (e) => { filters.text = e.target.value; render(); } });
  const status = h("select", { id: "f-status", onchange: (e) => { filters.status = e.target.value; load(); } },
    h("option", { value: "" }, "Any status"),
    ...(await statuses()).map((s) => h("option", { value: s, selected: s === filters.status }, words(s))));
  const overdue = h("input", { id: "f-overdue", type: "checkbox", checked: filters.overdue,
    onchange: (e) => { filters.overdue = e.target.checked; render(); } });
  technician.addEventListener("change", (e) => { filters.technician = e.target.value; render(); });

  const who = me();
  show(
    h("h1", {}, who.office ? "Work orders" : "My work orders"),
    h("div", { class: "filters", role: "search" },
      h("div", {}, h("label", { for: "f-text" }, "Search title, site or asset"), search),
      h("div", {}, h("label", { for: "f-status" }, "Status"), status),
      h("div", {}, h("label", { for: "f-technician" }, "Technician"), technician),
      h("div", { class: "check" }, overdue, h("label", { for: "f-overdue" }, "Overdue only"))),
    mode, count,
    h("table", { class: "board", id: "board" },
      h("caption", { class: "visually-hidden" }, "Work orders"),
      h("thead", {}, h("tr", {}, ...["Work order", "Status", "Crew", "Due", "Missing"].map((c) => h("th", { scope: "col" }, c)))),
      table),
  );
  await load();
  return watch("/events", () => load().catch(() => {}), (m) => {
    mode.textContent = { live: "Live: updates as they happen", polling: "Updated every 5 seconds",
      reconnecting: "Reconnecting…" }[m];
  });
}

function row(wo) {
  const overdue = isOverdue(wo);
  const missing = wo.missing.length
    ? h("ul", { class: "missing" }, wo.missing.map((m) => h("li", {}, missingText(m))))
    : h("span", { class: "muted" }, "nothing");
  return h("tr", { "data-id": wo.id },
    h("td", { "data-label": "Work order" },
      h("div", {}, h("a", { href: `#/work-orders/${wo.id}` }, wo.title),
        h("div", { class: "muted" }, `${label(wo.site)} · ${label(wo.asset)}`))),
    h("td", { "data-label": "Status" }, h("span", { class: `badge ${wo.status}` }, words(wo.status))),
    h("td", { "data-label": "Crew" }, h("div", {}, h("strong", {}, wo.crew.leader), " (leader)",
      wo.crew.members.length ? h("div", { class: "muted" }, wo.crew.members.join(", ")) : null)),
    h("td", { "data-label": "Due" }, h("div", {}, when(wo.due_at),
      overdue ? h("div", {}, h("span", { class: "badge overdue" }, "overdue")) : null)),
    h("td", { "data-label": "Missing" }, missing),
  );
}
