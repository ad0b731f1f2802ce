// Form plumbing shared by the issue form and the dispatcher's actions: a labelled control
// with its hint and error, a group of them (a record such as the site), and the API's
// messages put next to the fields they are about.

import { h } from "./dom.js";

export function field(id, text, control, hint) {
  control.id = id;
  control.name = id;
  const error = h("p", { class: "error", id: `${id}-error` });
  control.setAttribute("aria-describedby", [hint ? `${id}-hint` : "", `${id}-error`].join(" ").trim());
  return h("div", { class: "field", "data-field": id },
    h("label", { for: id }, text), control,
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null, error);
}

// Fields of one record under a legend; a message about the record as a whole (such as "give
// both lat and lon") goes under the legend.
export function group(id, legend, ...fields) {
  return h("fieldset", { class: "group", "data-field": id, "aria-describedby": `${id}-error` },
    h("legend", {}, legend), h("p", { class: "error", id: `${id}-error` }),
    h("div", { class: "form-grid" }, ...fields));
}

export function clearErrors(form, general) {
  for (const node of form.querySelectorAll(".error")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  general.replaceChildren();
}

// The field an error's ``loc`` names: ["body", "site", "SiteIn", "address"] is "site.address".
// Union members ("SiteIn", "function-after[…]"), list indices and "body" are left out.
export function fieldOf(loc) {
  return loc.filter((part) => typeof part === "string" && /^[a-z_]+$/.test(part) && part !== "body").join(".");
}

// An object sent where the API also takes plain text (site, asset) fails both ways; the
// plain-text side ("Input should be a valid string") is not about what was typed.
function aboutWhatWasSent(issue) {
  return !(issue.loc || []).some((part) => part === "str" || part === "constrained-str");
}

// The API's error as one line: status, code and message.
export function errorLine(exc) {
  return `${exc.status} ${exc.code}: ${exc.message}`;
}

// ``prefix`` names a form's fields apart from another's on the same page.
export function showErrors(form, general, exc, prefix = "") {
  let first = null;
  const unplaced = [];
  const issues = exc.details.filter(aboutWhatWasSent);
  for (const issue of issues) {
    const box = closestBox(form, prefix, fieldOf(issue.loc || []));
    if (!box) { unplaced.push(`${fieldOf(issue.loc || []) || "request"}: ${issue.msg}`); continue; }
    const error = box.querySelector(":scope > .error");
    error.textContent = error.textContent ? `${error.textContent}; ${issue.msg}` : issue.msg;
    const control = box.matches(".field") ? box.querySelector("input, select, textarea") : null;
    control?.setAttribute("aria-invalid", "true");
    first = first || control || box.querySelector("input, select, textarea");
  }
  let alert = null;
  if (!issues.length || unplaced.length) {
    alert = h("div", { class: "alert", role: "alert", tabindex: "-1" },
      issues.length ? `${errorLine(exc)} ${unplaced.join("; ")}` : errorLine(exc));
    general.replaceChildren(alert);
  }
  (first || alert)?.focus();
}

// The field named, or the nearest enclosing record that has a box on the form.
function closestBox(form, prefix, name) {
  for (let parts = name.split("."); parts.length && parts[0]; parts = parts.slice(0, -1)) {
    const box = form.querySelector(`[data-field="${CSS.escape(prefix + parts.join("."))}"]`);
    if (box) return box;
  }
  return null;
}
