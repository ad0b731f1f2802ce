// The dispatcher's actions on a work order: share links to its server report (create, list,
// revoke), and cancel, change the crew and reject the report where this gateway has them.

import { API, ApiError, get, has, request } from "./api.js";
import { announce, h, when } from "./dom.js";
import { clearErrors, field, showErrors } from "./forms.js";

const LIFECYCLE = [
  { op: "POST", path: "/cancel", id: "cancel", title: "Cancel the work order", button: "Cancel the work order",
    danger: true, fields: [["reason", "Reason", "textarea"]] },
  { op: "PUT", path: "/crew", id: "crew-change", title: "Change the crew", button: "Change the crew",
    fields: [["leader", "Leader (user id)", "input"], ["members", "Members (user ids, comma separated)", "input"]] },
  { op: "POST", path: "/report/reject", id: "reject", title: "Reject the leader's report", button: "Send the report back",
    danger: true, fields: [["reason", "Reason", "textarea"]] },
];

export async function actionsCard(id, refresh) {
  const base = `/work-orders/${id}`;
  const links = h("ul", { id: "share-links" });
  const result = h("div", { id: "share-result", role: "status" });
  const revision = h("select", {});
  const shareForm = form("share", "Share the report with a customer", "Create a share link", [
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
    await listLinks();
  });

  const listLinks = async () => {
    const found = await get(`${base}/share-links`).catch(() => []);
    links.replaceChildren(...found.map((l) => h("li", {},
      `Revision ${l.revision}, ${l.state}, ${l.views} view(s), until ${when(l.expires_at)} `,
      l.state === "active" ? h("button", { type: "button", class: "danger", "aria-label": `Revoke the link made ${when(l.created_at)}`,
        onclick: async () => { await request(`${base}/share-links/${l.id}`, { method: "DELETE" }); announce("Link revoked"); await listLinks(); } }, "Revoke") : null)));
  };

  const forms = [shareForm];
  for (const action of LIFECYCLE) {
    if (!(await has(`${action.op} ${API}/work-orders/{work_order_id}${action.path}`))) continue;
    forms.push(form(action.id, action.title, action.button,
      action.fields.map(([name, text, kind]) => field(`${action.id}.${name}`, text, h(kind, {}))),
      async (values) => {
        const body = {};
        for (const [name] of action.fields) {
          const value = values[`${action.id}.${name}`];
          body[name] = name === "members" ? value.split(",").map((m) => m.trim()).filter(Boolean) : value;
        }
        await request(`${base}${action.path}`, { method: action.op, body });
        announce(`${action.title}: done`);
        await refresh();
      }, action.danger));
  }
  const section = h("section", { class: "card actions", id: "actions", "aria-labelledby": "actions-h" },
    h("h2", { id: "actions-h" }, "Dispatcher actions"), ...forms, result, h("h3", {}, "Share links"), links);
  section.update = (wo, revisions) => {
    const chosen = revision.value;
    revision.replaceChildren(h("option", { value: "" }, "The newest"),
      ...revisions.map((r) => h("option", { value: r.revision, selected: String(r.revision) === chosen }, `Revision ${r.revision}`)));
  };
  await listLinks();
  return section;
}

function form(id, title, button, fields, send, danger = false) {
  const general = h("div", { id: `${id}-errors` });
  const element = h("form", { id: `${id}-form`, novalidate: true, "aria-label": title },
    h("h3", {}, title), general, ...fields,
    h("button", { type: "submit", class: danger ? "danger" : "" }, button));
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(element, general);
    const values = Object.fromEntries([...element.elements].filter((e) => e.name).map((e) => [e.name, e.value]));
    try {
      await send(values);
    } catch (exc) {
      if (!(exc instanceof ApiError)) throw exc;
      showErrors(element, general, exc, `${id}.`);
    }
  });
  return element;
}
