// The cards of a work order's page, each drawn from what the API answers to the caller.

import { ApiError, get, request } from "./api.js";
import { h, when, words } from "./dom.js";

export function card(id, title, ...body) {
  return h("section", { class: "card", id, "aria-labelledby": `${id}-h` }, h("h2", { id: `${id}-h` }, title), ...body);
}

// ``load()``, or ``fallback(error)`` where the API says this caller may not read it (403) or
// it is not there yet (404).
export async function attempt(load, fallback) {
  try {
    return await load();
  } catch (exc) {
    if (exc instanceof ApiError && [403, 404].includes(exc.status)) return fallback(exc);
    throw exc;
  }
}

const hidden = () => h("p", { class: "muted" }, "Not shown to your role.");
const crewText = (crew) => [`${crew.leader} (leader)`, ...crew.members].join(", ");

export function crewCard(wo) {
  const people = [wo.crew.leader, ...wo.crew.members];
  const changes = [...wo.crew_changes].reverse();
  return card("crew", "Crew", h("table", {},
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Who"), h("th", { scope: "col" }, "Role"), h("th", { scope: "col" }, "Photos"))),
    h("tbody", {}, people.map((p) => h("tr", {},
      h("td", {}, p), h("td", {}, p === wo.crew.leader ? "leader" : "member"),
      h("td", {}, `${wo.photos_by_member[p] ?? 0} of ${wo.min_photos_per_member}`))))),
  changes.length ? [h("h3", {}, "Crew changes"), h("ol", { class: "changes", id: "crew-changes", reversed: true },
    changes.map((c) => h("li", {},
      h("div", {}, h("strong", {}, `Change ${c.change}`), ` by ${c.by}, ${when(c.at)}`),
      h("div", { class: "muted" }, `from ${crewText(c.previous)}`),
      h("div", {}, `to ${crewText(c.crew)}`))))] : null);
}

// ``versions``: newest first, each {version, rejection, report (null when not readable)}.
export function reportsCard(wo, versions, who) {
  if (!versions.length) {
    return card("reports", "The leader's report", h("p", { class: "muted" }, "Not submitted yet."));
  }
  return card("reports", versions.length > 1 ? "The leader's report: every version" : "The leader's report",
    h("ol", { class: "versions", reversed: true }, versions.map((v, i) => {
      const state = v.rejection ? "rejected" : i === 0 && wo.status !== "rework" ? "current" : "submitted";
      const body = [
        v.rejection ? h("p", { class: "rejection" },
          `Sent back by ${v.rejection.by}, ${when(v.rejection.at)}: ${v.rejection.reason}`) : null,
        v.report ? reportFacts(v.report)
          : h("p", { class: "muted" }, who.readOnly ? "Read it in the server report." : "Not shown to your role."),
      ];
      const title = h("span", {}, h("strong", {}, `Version ${v.version}`), " ",
        h("span", { class: `badge ${state}` }, state),
        v.report ? ` — ${v.report.leader}, ${when(v.report.recorded_at)}` : null);
      return h("li", { "data-version": v.version }, i === 0
        ? [h("h3", {}, title), ...body]
        : h("details", {}, h("summary", {}, title), ...body));
    })));
}

function reportFacts(report) {
  return h("dl", { class: "facts" },
    h("dt", {}, "Outcome"), h("dd", {}, words(report.outcome)),
    h("dt", {}, "Summary"), h("dd", {}, report.summary),
    h("dt", {}, "Root cause"), h("dd", {}, report.root_cause || "—"),
    h("dt", {}, "Actions"), h("dd", {}, report.actions || "—"),
    h("dt", {}, "Parts"), h("dd", {}, report.parts.length ? report.parts.map((p) => `${p.part_no} × ${p.qty}`).join(", ") : "none"),
    h("dt", {}, "Notes merged"), h("dd", {}, String(report.merged_note_ids.length)));
}

export async function notesCard(id, wo, report, compiled, who) {
  let notes = [];
  if (compiled) {
    notes = compiled.contributions.flatMap((c) => c.notes.map((n) => ({ ...n, id: n.note_id, role: c.role })));
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
    h("div", {}, h("strong", {}, n.author), n.role === "former" ? " (former crew)" : null, " ",
      h("span", { class: "badge" }, n.merged ? "merged" : n.after_report ? "after the report" : "not merged"),
      h("div", {}, n.findings || "—"), n.actions ? h("div", { class: "muted" }, n.actions) : null,
      n.parts.length ? h("div", { class: "muted" }, n.parts.map((p) => `${p.part_no} × ${p.qty}`).join(", ")) : null)))));
}

export async function photosCard(id) {
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

export function revisionsCard(id, revisions, who) {
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

// The timeline: read once (GET …/timeline), then grown by the work order's event stream
// (``add`` takes an event as the stream gives it; one already shown is left out).
export function timelineCard() {
  const list = h("ol", { class: "timeline", id: "timeline-list" });
  const body = h("div", {}, list);
  const seen = new Set();
  let last = 0;
  const add = (entry, fresh = true) => {
    if (seen.has(entry.seq)) return;
    seen.add(entry.seq);
    last = Math.max(last, entry.seq);
    list.append(item(entry, fresh));
  };
  return {
    card: card("timeline", "Timeline", body),
    last: () => (last ? String(last) : null),
    add: (event) => add({ ...event, facts: factsOf(event.data || {}) }),
    async load(id) {
      const entries = await attempt(() => get(`/work-orders/${id}/timeline`), () => null);
      if (entries === null) { body.replaceChildren(hidden()); return; }
      for (const entry of entries) add(entry, false);
    },
  };
}

// What a stream event's data says, as the timeline's facts (ids, counts; no free text).
function factsOf(data) {
  const facts = {};
  for (const key of ["note_id", "photo_id", "revision", "duplicate", "outcome", "link_id", "view", "report_version"]) {
    if (data[key] !== undefined && data[key] !== null && data[key] !== "") facts[key] = data[key];
  }
  if (Array.isArray(data.parts)) facts.parts = data.parts.length;
  if (data.crew && typeof data.crew === "object") Object.assign(facts, { leader: data.crew.leader, members: data.crew.members });
  return facts;
}

function item(e, fresh) {
  const device = Math.abs(new Date(e.occurred_at) - new Date(e.recorded_at)) > 1000
    ? h("div", { class: "muted" }, `happened on the device ${when(e.occurred_at)}`) : null;
  return h("li", { "data-seq": e.seq, class: fresh ? "changed" : null }, h("time", { datetime: e.recorded_at }, when(e.recorded_at)),
    h("div", {}, h("strong", {}, words(e.type.replace(/([a-z])([A-Z])/g, "$1 $2")).toLowerCase()),
      ` by ${e.actor} (${e.actor_role})`, device, facts(e.facts || {})));
}

function facts(f) {
  const parts = [];
  if (f.report_version || f.version) parts.push(`report version ${f.report_version || f.version}`);
  if (f.revision) parts.push(`revision ${f.revision}`);
  if (f.photo_id) parts.push(`photo ${f.photo_id.slice(0, 8)}`);
  if (f.note_id) parts.push(`note ${f.note_id.slice(0, 8)}`);
  if (f.parts !== undefined) parts.push(`${f.parts} part line(s)`);
  if (f.outcome) parts.push(words(f.outcome));
  if (f.duplicate) parts.push("same bytes as an earlier photo");
  if (f.leader && f.members) parts.push(`crew: ${[`${f.leader} (leader)`, ...f.members].join(", ")}`);
  if (f.view) parts.push(`opened the ${f.view}`);
  if (f.link_id) parts.push(`link ${f.link_id.slice(0, 8)}`);
  return parts.length ? h("div", { class: "muted" }, parts.join(" · ")) : null;
}
