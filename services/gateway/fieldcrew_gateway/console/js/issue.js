// Issuing a work order. The form checks nothing the API does not: it sends what was typed and
// shows the API's validation messages next to the fields they are about. Site, asset and
// customer are records ({name, address, lat, lon}, {id, model, serial}, {name, phone, email});
// one left blank is not sent.

import { ApiError, me, post } from "./api.js";
import { announce, h, show } from "./dom.js";
import { clearErrors, field, group, showErrors } from "./forms.js";

const PRIORITIES = ["low", "normal", "high", "urgent"];

export async function issuePage() {
  if (!me().dispatches) {
    show(h("h1", {}, "Issue a work order"),
      h("div", { class: "alert", role: "alert" }, "Only dispatchers and admins issue work orders."));
    return null;
  }
  const general = h("div", { id: "form-errors" });
  const text = (attrs = {}) => h("input", { autocomplete: "off", ...attrs });
  const form = h("form", { id: "issue-form", novalidate: true },
    general,
    group("job", "The job",
      field("title", "Title", text({ required: true })),
      field("priority", "Priority", h("select", {}, PRIORITIES.map((p) => h("option", { value: p, selected: p === "normal" }, p)))),
      field("due_at", "Due", h("input", { type: "datetime-local" }), "In your local time"),
      field("description", "Description", h("textarea", {}))),
    group("site", "Site",
      field("site.name", "Site name", text()),
      field("site.address", "Address", text()),
      field("site.lat", "Latitude", text({ inputmode: "decimal" }), "Optional, with the longitude: -90 to 90"),
      field("site.lon", "Longitude", text({ inputmode: "decimal" }), "-180 to 180")),
    group("asset", "Asset",
      field("asset.id", "Asset id", text()),
      field("asset.model", "Model", text()),
      field("asset.serial", "Serial number", text())),
    group("customer", "Customer",
      field("customer.name", "Customer name", text()),
      field("customer.phone", "Phone", text({ type: "tel" }), "Digits, spaces and + ( ) . / -"),
      field("customer.email", "Email", text({ type: "email" }))),
    group("crew", "Crew",
      field("crew.leader", "Crew leader (user id)", text({ required: true })),
      field("crew.members", "Crew members (user ids)", text(), "Separated by commas"),
      field("min_photos_per_member", "Photos each crew member must upload", h("input", { type: "number", min: 0, value: 1 }))),
    h("button", { type: "submit" }, "Issue the work order"));
  form.addEventListener("submit", (event) => submit(event, form, general));
  show(h("h1", {}, "Issue a work order"), h("section", { class: "card" }, form));
  return null;
}

// A number typed as a number is sent as one; anything else as typed, for the API to judge.
function numberOrText(value) {
  const number = Number(value);
  return value.trim() !== "" && Number.isFinite(number) ? number : value;
}

// The fields of ``prefix`` typed into, as a record; null when all are blank.
function record(value, prefix, names, numbers = []) {
  const out = {};
  for (const name of names) {
    const typed = value(`${prefix}.${name}`);
    if (typed.trim() !== "") out[name] = numbers.includes(name) ? numberOrText(typed) : typed;
  }
  return Object.keys(out).length ? out : null;
}

function body(form) {
  const value = (name) => form.elements.namedItem(name).value;
  const due = value("due_at");
  const photos = value("min_photos_per_member");
  const sent = {
    title: value("title"),
    description: value("description"),
    priority: value("priority"),
    crew: { leader: value("crew.leader"), members: value("crew.members").split(",").map((m) => m.trim()).filter(Boolean) },
    min_photos_per_member: photos === "" ? 1 : numberOrText(photos),
  };
  const site = record(value, "site", ["name", "address", "lat", "lon"], ["lat", "lon"]);
  const asset = record(value, "asset", ["id", "model", "serial"]);
  const customer = record(value, "customer", ["name", "phone", "email"]);
  if (site) sent.site = { name: "", address: "", ...site };
  if (asset) sent.asset = { id: "", ...asset };
  if (customer) sent.customer = { name: "", ...customer };
  if (due) sent.due_at = new Date(due).toISOString();
  return sent;
}

async function submit(event, form, general) {
  event.preventDefault();
  clearErrors(form, general);
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const issued = await post("/work-orders", body(form));
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
