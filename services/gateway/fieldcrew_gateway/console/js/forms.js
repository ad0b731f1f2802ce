// Form plumbing shared by the issue form and the dispatcher's actions: a labelled control
// with its hint and error, and the API's validation messages put next to their fields.

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

export function clearErrors(form, general) {
  for (const node of form.querySelectorAll(".error")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  general.replaceChildren();
}

export function fieldOf(loc) {
  const path = loc.filter((part) => part !== "body" && typeof part === "string");
  if (path[0] === "crew" && path[1]) return `crew.${path[1]}`;
  return path[0] === "crew" ? "crew.leader" : path[0];
}

// ``prefix`` names a form's fields apart from another's on the same page.
export function showErrors(form, general, exc, prefix = "") {
  let first = null;
  const unplaced = [];
  for (const issue of exc.details) {
    const name = prefix + fieldOf(issue.loc || []);
    const box = name && form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (!box) { unplaced.push(issue.msg); continue; }
    const error = box.querySelector(".error");
    error.textContent = error.textContent ? `${error.textContent}; ${issue.msg}` : issue.msg;
    const control = box.querySelector("input, select, textarea");
    control.setAttribute("aria-invalid", "true");
    first = first || control;
  }
  if (!exc.details.length || unplaced.length) {
    general.replaceChildren(h("div", { class: "alert", role: "alert" },
      exc.details.length ? `${exc.message}: ${unplaced.join("; ")}` : exc.message));
  }
  (first || general).focus?.();
}
