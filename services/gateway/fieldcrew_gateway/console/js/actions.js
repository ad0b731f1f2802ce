// The dispatcher's actions on a work order: change the crew, send the report back, cancel
// (where this gateway has them), and share links to its server report. Each form sends what
// was typed; the API decides, and its answer is shown as it is: validation messages next to
// their fields, a refusal (such as 409 and the rule's code) above the form.

import { API, ApiError, get, has, request } from "./api.js";
import { announce, h, when } from "./dom.js";
import { clearErrors, errorLine, field, showErrors } from "./forms.js";

const LIFECYCLE = [
  { op: "PUT", path: "/crew", id: "crew-change", title: "Change the crew", button: "Change the crew",
    hint: "While the work order is issued, in progress or in rework. The new leader submits the report.",
    fields: [["leader", "New leader (user id)", "input"], ["members", "New members (user ids, comma separated)", "input"]] },
  { op: "POST", path: "/report/reject", id: "reject", title: "Send the report back", button: "Send the report back",
    hint: "When the leader's report awaits review or is compiled: the crew reworks it and the leader submits the next version.",
    danger: true, fields: [["reason", "What is to be reworked", "textarea"]] },
  { op: "POST", path: "/cancel", id: "cancel", title: "Cancel the work order", button: "Cancel the work order",
    hint: "Until it is completed. Nothing more can be added to it afterwards.",
    danger: true, fields: [["reason", "Why it is cancelled", "textarea"]] },
];

export async function actionsCard(id, refresh) {
  const base = `/work-orders/${id}`;
  const lifecycle = h("div", { id: "lifecycle-actions" });
  const closed = h("p", { class: "muted", id: "no-actions", hidden: true }, "Cancelled: there is nothing more to do.");
  const forms = {};
  for (const action of LIFECYCLE) {
    if (!(await has(`${action.op} ${API}/work-orders/{work_order_id}${action.path}`))) continue;
    forms[action.id] = form(action.id, action.title, action.button, action.hint,
      action.fields.map(([name, text, kind]) => field(`${action.id}.${name}`, text, h(kind, { autocomplete: "off" }))),
      async (values, element) => {
        const body = {};
        for (const [name] of action.fields) {
          const value = values[`${action.id}.${name}`];
          body[name] = name === "members" ? value.split(",").map((m) => m.trim()).filter(Boolean) : value;
        }
        await request(`${base}${action.path}`, { method: action.op, body });
        if (action.id !== "crew-change") element.reset();
        element.dataset.edited = "";
        announce(`${action.title}: done`);
        await refresh();
      }, action.danger);
    lifecycle.append(forms[action.id]);
  }
  const share = shareLinks(base);
  const section = h("section", { class: "card actions", id: "actions", "aria-labelledby": "actions-h" },
    h("h2", { id: "actions-h" }, "Dispatcher actions"), closed, lifecycle, share.element);
  section.update = (wo, revisions) => {
    const cancelled = wo.status === "cancelled";
    lifecycle.hidden = cancelled;
    closed.hidden = !cancelled;
    const crew = forms["crew-change"];
    if (crew && !crew.dataset.edited) { // the current crew, until the dispatcher types
      crew.elements.namedItem("crew-change.leader").value = wo.crew.leader;
      crew.elements.namedItem("crew-change.members").value = wo.crew.members.join(", ");
    }
    share.update(revisions);
  };
  await share.list();
  return section;
}

function shareLinks(base) {
  const links = h("ul", { id: "share-links" });
  const result = h("div", { id: "share-result", role: "status" });
  const revision = h("select", {});
  const list = async () => {
    const found = await get(`${base}/share-links`).catch(() => []);
    if (!found.length) links.replaceChildren(h("li", { class: "muted" }, "None yet."));
    else links.replaceChildren(...found.map((l) => h("li", {},
      `Revision ${l.revision}, ${l.state}, ${l.views} view(s), until ${when(l.expires_at)} `,
      l.state === "active" ? h("button", { type: "button", class: "danger", "aria-label": `Revoke the link made ${when(l.created_at)}`,
        onclick: async () => { await request(`${base}/share-links/${l.id}`, { method: "DELETE" }); announce("Link revoked"); await list(); } }, "Revoke") : null)));
  };
  const shareForm = form("share", null, "Create a share link", null, [
    field("share.expires_in_hours", "Valid for (hours, at most 720)", h("input", { type: "number", min: 1, max: 720, value: 72 })),
    field("share.revision", "Revision", revision),
  ], async (values) => {
    const body = { expires_in_hours: Number(values["share.expires_in_hours"]) };
    if (values["share.revision"]) body.revision = Number(values["share.revision"]);
    const made = await request(`${base}/share-links`, { method: "POST", body });
    result.replaceChildren(h("div", { class: "notice" },
      h("label", { for: "share-url" }, "The link (shown this once):"),
      h("div", { class: "share-url" }, h("input", { id: "share-url", readonly: true, value: made.url }),
        h("button", { type: "button", class: "secondary", onclick: () => navigator.clipboard?.writeText(made.url) }, "Copy")),
      h("p", { class: "hint" }, `Revision ${made.revision}, valid until ${when(made.expires_at)}.`)));
    announce("Share link created");
    await list();
  });
  const waiting = h("p", { class: "muted" }, "A link can be made once the server report is compiled.");
  const update = (revisions) => {
    shareForm.hidden = !revisions.length;
    waiting.hidden = Boolean(revisions.length);
    const chosen = revision.value;
    revision.replaceChildren(h("option", { value: "" }, "The newest"),
      ...revisions.map((r) => h("option", { value: r.revision, selected: String(r.revision) === chosen }, `Revision ${r.revision}`)));
  };
  const element = h("div", { class: "share" }, h("h3", {}, "Share the report with a customer"), waiting,
    shareForm, result, h("h4", {}, "Share links"), links);
  return { element, list, update };
}

function form(id, title, button, hint, fields, send, danger = false) {
  const general = h("div", { id: `${id}-errors` });
  const element = h("form", { id: `${id}-form`, novalidate: true, "aria-labelledby": title ? `${id}-title` : null },
    title ? h("h3", { id: `${id}-title` }, title) : null, hint ? h("p", { class: "hint" }, hint) : null, general, ...fields,
    h("button", { type: "submit", class: danger ? "danger" : "" }, button));
  element.addEventListener("input", () => { element.dataset.edited = "yes"; });
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(element, general);
    const submit = element.querySelector("button[type=submit]");
    submit.disabled = true;
    const values = Object.fromEntries([...element.elements].filter((e) => e.name).map((e) => [e.name, e.value]));
    try {
      await send(values, element);
    } catch (exc) {
      if (!(exc instanceof ApiError)) throw exc;
      showErrors(element, general, exc, `${id}.`);
      announce(`${title || button}: ${errorLine(exc)}`);
    } finally {
      submit.disabled = false;
    }
  });
  return element;
}
