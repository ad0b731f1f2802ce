// The console's router: #/board, #/issue, #/work-orders/<id>, #/signin. Each page may return
// a function that stops what it started (a live stream, a poll) when the page is left.

import { me, signOut, token } from "./api.js";
import { boardPage } from "./board.js";
import { h, show } from "./dom.js";
import { issuePage } from "./issue.js";
import { finishOidc, signInPage } from "./signin.js";
import { workOrderPage } from "./workorder.js";

let leave = null;

function nav(who) {
  const here = location.hash || "#/board";
  const link = (href, text) => h("a", { href, "aria-current": here.startsWith(href) ? "page" : null }, text);
  document.getElementById("nav").replaceChildren(...(who ? [
    link("#/board", "Work orders"),
    who.dispatches ? link("#/issue", "Issue a work order") : null,
  ] : []).filter(Boolean)); // replaceChildren would write a null as the text "null"
  document.getElementById("who").replaceChildren(...(who ? [
    h("span", {}, `${who.sub} · ${who.role}${who.readOnly ? " (read-only)" : ""}`),
    h("button", { type: "button", onclick: () => { signOut(); location.hash = "#/signin"; } }, "Sign out"),
  ] : []));
}

async function route() {
  if (leave) { leave(); leave = null; }
  const who = token() ? me() : null;
  const hash = location.hash || "#/board";
  nav(who);
  if (!who) return signInPage();
  if (hash === "#/signin") { location.hash = "#/board"; return null; }
  if (hash === "#/issue") return issuePage();
  const match = hash.match(/^#\/work-orders\/([0-9a-f-]{36})$/);
  if (match) return workOrderPage(match[1]);
  return boardPage();
}

async function go() {
  try {
    leave = (await route()) || null;
  } catch (exc) {
    show(h("h1", {}, "Something went wrong"), h("div", { class: "alert", role: "alert" }, exc.message));
  }
}

window.addEventListener("hashchange", go);
finishOidc()
  .then((done) => { if (done) location.hash = "#/board"; else go(); })
  .catch((exc) => signInPage(exc.message));
