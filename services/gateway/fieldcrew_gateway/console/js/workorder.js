// One work order: what it is and where it stands (cancelled or sent back, and why), crew and
// its changes, the leader's report versions, photos, the server report's revisions, notes, the
// timeline of every event, and (for dispatchers) the actions. The timeline grows from the
// work order's live event stream; the rest is read again when an event arrives.

import { ApiError, fresh, get, me } from "./api.js";
import { actionsCard } from "./actions.js";
import {
  attempt, crewCard, notesCard, photosCard, reportsCard, revisionsCard, timelineCard,
} from "./cards.js";
import { announce, assetText, h, isOverdue, missingText, show, siteText, when, words } from "./dom.js";
import { coalesced, watch } from "./live.js";

export async function workOrderPage(id) {
  const slots = {};
  for (const name of ["head", "crew", "reports", "notes", "photos", "revisions", "timeline"]) slots[name] = h("div");
  const who = me();
  show(h("p", {}, "Loading…"));
  const mode = h("p", { class: "live", id: "live-mode" });
  const timeline = timelineCard();
  let shown = null;

  const refresh = async (seq = 0) => {
    const wo = await fresh(`/work-orders/${id}`, seq);
    const [reports, revisions] = await Promise.all([
      reportVersions(id, wo, who),
      attempt(() => get(`/work-orders/${id}/server-report/revisions`), () => []),
    ]);
    const compiled = revisions.length
      ? await attempt(() => get(`/work-orders/${id}/server-report`), () => null) : null;
    slots.head.replaceChildren(head(wo));
    slots.crew.replaceChildren(crewCard(wo));
    slots.reports.replaceChildren(reportsCard(wo, reports, who));
    slots.notes.replaceChildren(await notesCard(id, wo, reports[0]?.report, compiled, who));
    slots.photos.replaceChildren(await photosCard(id));
    slots.revisions.replaceChildren(revisionsCard(id, revisions, who));
    if (actions) actions.update(wo, revisions);
    if (shown && shown.status !== wo.status) announce(`Status: ${words(wo.status)}`);
    shown = wo;
  };
  const actions = who.dispatches ? await actionsCard(id, () => refresh()) : null;
  try {
    await refresh();
    await timeline.load(id);
  } catch (exc) {
    if (!(exc instanceof ApiError)) throw exc;
    show(h("h1", {}, "Work order"), h("div", { class: "alert", role: "alert" }, exc.message));
    return null;
  }
  if (location.hash !== `#/work-orders/${id}`) return null; // left while it loaded
  show(h("p", {}, h("a", { href: "#/board" }, "← All work orders")), slots.head, mode,
    h("div", { class: "grid2" }, slots.crew, actions), slots.reports, slots.photos, slots.revisions,
    h("div", { class: "grid2" }, slots.notes, timeline.card));

  const update = coalesced((seq) => refresh(seq));
  return watch(`/work-orders/${id}/events`, {
    route: "/work-orders/{work_order_id}/events",
    lastId: timeline.last(),
    onEvent: ({ data }) => { timeline.add(data); update(data.seq); },
    onResync: () => { timeline.load(id).catch(() => {}); update(0); },
    onMode: (m) => {
      mode.dataset.mode = m;
      mode.textContent = { live: "Live: the timeline grows as events are recorded",
        polling: "Updated every 5 seconds", reconnecting: "Reconnecting to the live updates…" }[m];
    },
  });
}

// Every version of the leader's report, newest first: the caller's read of each (none for
// those who may not read reports) with the office's rejection of it.
async function reportVersions(id, wo, who) {
  const versions = [];
  for (let v = wo.report_version; v >= 1; v -= 1) versions.push(v);
  const read = !who.readOnly;
  return Promise.all(versions.map(async (version) => ({
    version,
    rejection: wo.rejections.find((r) => r.report_version === version) || null,
    report: read ? await attempt(() => get(`/work-orders/${id}/report?version=${version}`), () => null) : null,
  })));
}

function head(wo) {
  const site = wo.site || {};
  const place = site.lat !== undefined && site.lat !== null ? `${site.lat}, ${site.lon}` : null;
  const customer = wo.customer
    ? [wo.customer.name, wo.customer.phone, wo.customer.email].filter(Boolean).join(" · ") : null;
  const rejection = wo.status === "rework" ? wo.rejections[wo.rejections.length - 1] : null;
  return h("div", {},
    h("h1", {}, wo.title, " ", h("span", { class: `badge ${wo.status}`, id: "status" }, words(wo.status)),
      isOverdue(wo) ? [" ", h("span", { class: "badge overdue" }, "overdue")] : null),
    wo.cancelled ? h("div", { class: "alert", id: "cancelled", role: "note" },
      h("strong", {}, `Cancelled by ${wo.cancelled.by}`), ` on ${when(wo.cancelled.at)}. `,
      h("span", {}, `Reason: ${wo.cancelled.reason}`)) : null,
    rejection ? h("div", { class: "notice rework", id: "rework", role: "note" },
      h("strong", {}, `Report version ${rejection.report_version} sent back by ${rejection.by}`),
      ` on ${when(rejection.at)}: ${rejection.reason}`) : null,
    h("section", { class: "card" }, h("dl", { class: "facts" },
      h("dt", {}, "Work order"), h("dd", { class: "mono" }, wo.id),
      h("dt", {}, "Site"), h("dd", { id: "site" }, siteText(wo.site) || "—", place ? h("div", { class: "muted" }, place) : null),
      h("dt", {}, "Asset"), h("dd", { id: "asset" }, assetText(wo.asset) || "—"),
      customer ? [h("dt", {}, "Customer"), h("dd", { id: "customer" }, customer)] : null,
      h("dt", {}, "Priority"), h("dd", {}, wo.priority),
      h("dt", {}, "Issued"), h("dd", {}, when(wo.issued_at)),
      h("dt", {}, "Due"), h("dd", {}, when(wo.due_at)),
      wo.started ? [h("dt", {}, "Started"), h("dd", {}, `${when(wo.started.at)} by ${wo.started.by}`)] : null,
      h("dt", {}, "Missing"), h("dd", {}, wo.status === "cancelled" ? "— (cancelled)" : wo.missing.length
        ? h("ul", { class: "missing" }, wo.missing.map((m) => h("li", {}, missingText(m))))
        : "nothing"))));
}
