// One work order: crew, what is missing, the timeline of every event, notes, photos with
// their provenance, the leader's report, the server report's revisions and their PDFs, and
// (for dispatchers) the actions the API offers.

import { ApiError, get, me, request } from "./api.js";
import { actionsCard } from "./actions.js";
import { h, isOverdue, label, missingText, show, when, words } from "./dom.js";
import { watch } from "./live.js";

function card(id, title, ...body) {
  return h("section", { class: "card", id, "aria-labelledby": `${id}-h` }, h("h2", { id: `${id}-h` }, title), ...body);
}

async function attempt(load, fallback) {
  try {
    return await load();
  } catch (exc) {
    if (exc instanceof ApiError && [403, 404].includes(exc.status)) return fallback(exc);
    throw exc;
  }
}

const hidden = () => h("p", { class: "muted" }, "Not shown to your role.");

export async function workOrderPage(id) {
  const slots = {};
  for (const name of ["head", "crew", "report", "notes", "photos", "revisions", "timeline"]) slots[name] = h("div");
  const who = me();
  const actions = who.dispatches ? await actionsCard(id, () => refresh()) : null;
  show(h("p", {}, h("a", { href: "#/board" }, "← All work orders")), slots.head,
    h("div", { class: "grid2" }, slots.crew, slots.report), slots.photos, slots.revisions,
    h("div", { class: "grid2" }, slots.notes, slots.timeline), actions);

  const refresh = async () => {
    const wo = await get(`/work-orders/${id}`);
    const [report, revisions] = await Promise.all([
      attempt(() => get(`/work-orders/${id}/report`), () => null),
      attempt(() => get(`/work-orders/${id}/server-report/revisions`), () => []),
    ]);
    const compiled = revisions.length
      ? await attempt(() => get(`/work-orders/${id}/server-report`), () => null) : null;
    slots.head.replaceChildren(head(wo));
    slots.crew.replaceChildren(crewCard(wo));
    slots.report.replaceChildren(reportCard(report, who));
    slots.notes.replaceChildren(await notesCard(id, wo, report, compiled, who));
    slots.photos.replaceChildren(await photosCard(id));
    slots.revisions.replaceChildren(revisionsCard(id, revisions, who));
    slots.timeline.replaceChildren(await timelineCard(id));
    if (actions) actions.update(wo, revisions);
  };
  try {
    await refresh();
  } catch (exc) {
    if (!(exc instanceof ApiError)) throw exc;
    show(h("h1", {}, "Work order"), h("div", { class: "alert", role: "alert" }, exc.message));
    return null;
  }
  return watch(`/work-orders/${id}/events`, () => refresh().catch(() => {}), () => {});
}

function head(wo) {
  return h("div", {},
    h("h1", {}, wo.title, " ", h("span", { class: `badge ${wo.status}`, id: "status" }, words(wo.status)),
      isOverdue(wo) ? h("span", { class: "badge overdue" }, " overdue") : null),
    h("section", { class: "card" }, h("dl", { class: "facts" },
      h("dt", {}, "Work order"), h("dd", { class: "mono" }, wo.id),
      h("dt", {}, "Site"), h("dd", {}, label(wo.site)),
      h("dt", {}, "Asset"), h("dd", {}, label(wo.asset)),
      wo.customer ? [h("dt", {}, "Customer"), h("dd", {}, label(wo.customer))] : null,
      h("dt", {}, "Priority"), h("dd", {}, wo.priority),
      h("dt", {}, "Issued"), h("dd", {}, when(wo.issued_at)),
      h("dt", {}, "Due"), h("dd", {}, when(wo.due_at)),
      h("dt", {}, "Missing"), h("dd", {}, wo.missing.length
        ? h("ul", { class: "missing" }, wo.missing.map((m) => h("li", {}, missingText(m))))
        : "nothing"))));
}

function crewCard(wo) {
  const people = [wo.crew.leader, ...wo.crew.members];
  return card("crew", "Crew", h("table", {},
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Who"), h("th", { scope: "col" }, "Role"), h("th", { scope: "col" }, "Photos"))),
    h("tbody", {}, people.map((p) => h("tr", {},
      h("td", {}, p), h("td", {}, p === wo.crew.leader ? "leader" : "member"),
      h("td", {}, `${wo.photos_by_member[p] ?? 0} of ${wo.min_photos_per_member}`))))));
}

function reportCard(report, who) {
  if (!report) {
    return card("leader-report", "The leader's report",
      h("p", { class: "muted" }, who.readOnly ? "Read it in the server report." : "Not submitted yet."));
  }
  return card("leader-report", "The leader's report", h("dl", { class: "facts" },
    h("dt", {}, "Leader"), h("dd", {}, report.leader),
    h("dt", {}, "Outcome"), h("dd", {}, words(report.outcome)),
    h("dt", {}, "Summary"), h("dd", {}, report.summary),
    h("dt", {}, "Root cause"), h("dd", {}, report.root_cause || "—"),
    h("dt", {}, "Actions"), h("dd", {}, report.actions || "—"),
    h("dt", {}, "Parts"), h("dd", {}, report.parts.length ? report.parts.map((p) => `${p.part_no} × ${p.qty}`).join(", ") : "none"),
    h("dt", {}, "Submitted"), h("dd", {}, when(report.recorded_at))));
}

async function notesCard(id, wo, report, compiled, who) {
  let notes = [];
  if (compiled) {
    notes = compiled.contributions.flatMap((c) => c.notes.map((n) => ({ ...n, id: n.note_id })));
  } else if (!who.office) {
    const merged = new Set(report ? report.merged_note_ids : []);
    notes = (await attempt(() => get(`/work-orders/${id}/notes`), () => []))
      .map((n) => ({ ...n, merged: merged.has(n.id) }));
  }
  if (!notes.length) {
    const why = who.office && !compiled ? `${wo.notes} note(s) so far; the office reads them merged in the server report.` : "No notes yet.";
    return card("notes", "Notes", h("p", { class: "muted" }, why));
  }
  return card("notes", "Notes", h("ul", { class: "timeline" }, notes.map((n) => h("li", {},
    h("time", { datetime: n.recorded_at }, when(n.recorded_at)),
    h("div", {}, h("strong", {}, n.author), " ", h("span", { class: "badge" }, n.merged ? "merged" : "not merged"),
      h("div", {}, n.findings || "—"), n.actions ? h("div", { class: "muted" }, n.actions) : null,
      n.parts.length ? h("div", { class: "muted" }, n.parts.map((p) => `${p.part_no} × ${p.qty}`).join(", ")) : null)))));
}

async function photosCard(id) {
  const photos = await attempt(() => get(`/work-orders/${id}/photos`), () => null);
  if (photos === null) return card("photos", "Photos", hidden());
  if (!photos.length) return card("photos", "Photos", h("p", { class: "muted" }, "No photos yet."));
  return card("photos", `Photos (${photos.length})`, h("ul", { class: "photos" }, photos.map((p, i) => {
    const src = p.thumbnail_url || p.url;
    const picture = src && p.rendition !== "pending" && p.rendition !== "failed"
      ? h("img", { src, alt: `Photo ${i + 1}${p.caption ? `: ${p.caption}` : ""}`, loading: "lazy" })
      : h("div", { class: "pending" }, p.rendition === "failed" ? "This photo's copy could not be made." : "The copy is being prepared…");
    return h("li", {}, h("figure", {}, picture, h("figcaption", {}, h("dl", { class: "facts" },
      h("dt", {}, "By"), h("dd", {}, p.uploaders.join(", ")),
      h("dt", {}, "Taken"), h("dd", {}, p.captured_at ? when(p.captured_at) : "not recorded"),
      h("dt", {}, "Place"), h("dd", {}, p.location ? `${p.location.lat.toFixed(5)}, ${p.location.lon.toFixed(5)}` : "not recorded"),
      h("dt", {}, "Uploaded"), h("dd", {}, when(p.uploaded_at)),
      h("dt", {}, "sha256"), h("dd", { class: "mono" }, p.sha256)))));
  })));
}

function revisionsCard(id, revisions, who) {
  if (!revisions.length) return card("revisions", "Server report", h("p", { class: "muted" }, "Not compiled yet."));
  const items = [...revisions].reverse().map((r) => h("li", {},
    h("strong", {}, `Revision ${r.revision}`), ` — compiled ${when(r.compiled_at)} `,
    who.readOnly ? null : h("button", { type: "button", class: "secondary", "data-revision": r.revision,
      onclick: (e) => downloadPdf(id, r.revision, e.currentTarget) }, `Download PDF (revision ${r.revision})`),
    h("div", { class: "mono" }, `fingerprint sha256 ${r.fingerprint}`),
    h("ul", { class: "missing" }, r.changes.map((c) => h("li", {}, c)))));
  return card("revisions", "Server report", h("ol", { class: "revisions", reversed: true }, items));
}

async function downloadPdf(id, revision, button) {
  button.disabled = true;
  try {
    const answer = await request(`/work-orders/${id}/server-report.pdf?revision=${revision}`, { raw: true });
    const link = h("a", { href: URL.createObjectURL(await answer.blob()), download: `work-order-${id}-r${revision}.pdf` });
    document.body.append(link);
    link.click();
    link.remove();
  } finally {
    button.disabled = false;
  }
}

async function timelineCard(id) {
  const entries = await attempt(() => get(`/work-orders/${id}/timeline`), () => null);
  if (entries === null) return card("timeline", "Timeline", hidden());
  return card("timeline", "Timeline", h("ol", { class: "timeline" }, entries.map((e) => {
    const device = Math.abs(new Date(e.occurred_at) - new Date(e.recorded_at)) > 1000
      ? h("div", { class: "muted" }, `happened on the device ${when(e.occurred_at)}`) : null;
    return h("li", {}, h("time", { datetime: e.recorded_at }, when(e.recorded_at)),
      h("div", {}, h("strong", {}, words(e.type.replace(/([a-z])([A-Z])/g, "$1 $2")).toLowerCase()),
        ` by ${e.actor} (${e.actor_role})`, device, facts(e.facts)));
  })));
}

function facts(f) {
  const parts = [];
  if (f.revision) parts.push(`revision ${f.revision}`);
  if (f.photo_id) parts.push(`photo ${f.photo_id.slice(0, 8)}`);
  if (f.note_id) parts.push(`note ${f.note_id.slice(0, 8)}`);
  if (f.parts !== undefined) parts.push(`${f.parts} part line(s)`);
  if (f.outcome) parts.push(words(f.outcome));
  if (f.duplicate) parts.push("same bytes as an earlier photo");
  if (f.view) parts.push(`opened the ${f.view}`);
  if (f.link_id) parts.push(`link ${f.link_id.slice(0, 8)}`);
  return parts.length ? h("div", { class: "muted" }, parts.join(" · ")) : null;
}
