// Building the page from data: every text goes in as text (never as HTML), so nothing a user
// typed can become markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function when(iso) {
  if (!iso) return "—";
  const at = new Date(iso);
  return at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function isOverdue(wo, now = new Date()) {
  if (typeof wo.overdue === "boolean") return wo.overdue;
  const open = !["completed", "cancelled"].includes(wo.status);
  return Boolean(wo.due_at) && open && new Date(wo.due_at) < now;
}

export function words(text) {
  return String(text).replaceAll("_", " ");
}

export function label(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "object") {
    return [value.name, value.id, value.address].filter(Boolean).join(", ") || "—";
  }
  return String(value);
}

// A site as one line: its name and address ("" for none).
export function siteText(site) {
  return site ? [site.name, site.address].filter(Boolean).join(", ") : "";
}

// An asset as one line: its id, then model and serial number when known ("" for none).
export function assetText(asset) {
  if (!asset) return "";
  const more = [asset.model, asset.serial ? `s/n ${asset.serial}` : ""].filter(Boolean).join(", ");
  return more ? `${asset.id} (${more})` : asset.id;
}

export function missingText(item) {
  switch (item.kind) {
    case "photos": return `photos from ${item.who}: ${item.have} of ${item.need}`;
    case "leader_report": return `the leader's report (${item.who})`;
    case "notes_not_merged": return `${(item.note_ids || []).length} note(s) not merged`;
    case "merged_notes": return `${(item.note_ids || []).length} merged note(s) not arrived`;
    default: return item.detail || words(item.kind);
  }
}

export function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 30);
}

export function show(...nodes) {
  const main = document.getElementById("main");
  main.replaceChildren(...nodes);
  main.focus();
}
