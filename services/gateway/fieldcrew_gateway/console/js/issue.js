// Issuing a work order. The form checks nothing the API does not: it sends what was typed and
// shows the API's validation messages next to the fields they are about.

import { ApiError, features, me, post } from "./api.js";
import { announce, h, show } from "./dom.js";
import { clearErrors, field, showErrors } from "./forms.js";

const PRIORITIES = ["low", "normal", "high", "urgent"];

export async function issuePage() {
  if (!me().dispatches) {
    show(h("h1", {}, "Issue a work order"),
      h("div", { class: "alert", role: "alert" }, "Only dispatchers and admins issue work orders."));
    return null;
  }
  const request = (await features()).schemas.IssueWorkOrderRequest || { properties: {} };
  const customer = "customer" in (request.properties || {});
  const general = h("div", { id: "form-errors" });
  const form = h("form", { id: "issue-form", novalidate: true },
    general,
    h("div", { class: "form-grid" },
      field("title", "Title", h("input", { required: true, autocomplete: "off" })),
      field("priority", "Priority", h("select", {}, PRIORITIES.map((p) => h("option", { value: p, selected: p === "normal" }, p)))),
      field("site", "Site", h("input", {})),
      field("asset", "Asset", h("input", {})),
      customer ? field("customer", "Customer", h("input", {})) : null,
      field("due_at", "Due", h("input", { type: "datetime-local" }), "In your local time"),
      field("crew.leader", "Crew leader (user id)", h("input", { required: true, autocomplete: "off" })),
      field("crew.members", "Crew members (user ids)", h("input", { autocomplete: "off" }), "Separated by commas"),
      field("min_photos_per_member", "Photos each crew member must upload", h("input", { type: "number", min: 0, value: 1 }))),
    field("description", "Description", h("textarea", {})),
    h("button", { type: "submit" }, "Issue the work order"));
  form.addEventListener("submit", (event) => submit(event, form, general, customer));
  show(h("h1", {}, "Issue a work order"), h("section", { class: "card" }, form));
  return null;
}

function body(form, customer) {
  const value = (name) => form.elements.namedItem(name).value;
  const due = value("due_at");
  const photos = value("min_photos_per_member");
  const sent = {
    title: value("title"),
    description: value("description"),
    site: value("site"),
    asset: value("asset"),
    priority: value("priority"),
    crew: { leader: value("crew.leader"), members: value("crew.members").split(",").map((m) => m.trim()).filter(Boolean) },
    min_photos_per_member: photos === "" ? 1 : Number(photos),
  };
  if (due) sent.due_at = new Date(due).toISOString();
  if (customer && value("customer")) sent.customer = { name: value("customer") };
  return sent;
}

async function submit(event, form, general, customer) {
  event.preventDefault();
  clearErrors(form, general);
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const issued = await post("/work-orders", body(form, customer));
    announce(`Work order ${issued.title} issued`);
    location.hash = `#/work-orders/${issued.id}`;
  } catch (exc) {
    if (!(exc instanceof ApiError)) throw exc;
    showErrors(form, general, exc);
    announce(`The work order was not issued: ${exc.message}`);
  } finally {
    button.disabled = false;
  }
}
