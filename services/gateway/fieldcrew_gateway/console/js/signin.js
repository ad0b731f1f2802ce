// Signing in: a token pasted from `fieldcrew token` (local mode), or OIDC authorization code
// with PKCE (RFC 7636) against the configured identity provider. The console is a public
// client: no secret; the code verifier never leaves this tab until the token request.

import { signIn } from "./api.js";
import { h, show } from "./dom.js";

const FLOW = "fieldcrew.oidc";

async function config() {
  return (await fetch("/console/config.json")).json();
}

function redirectUri() {
  return `${location.origin}/console/`;
}

function random(bytes) {
  const data = crypto.getRandomValues(new Uint8Array(bytes));
  return base64url(data);
}

function base64url(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

async function startOidc(oidc) {
  const verifier = random(32);
  const state = random(16);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  sessionStorage.setItem(FLOW, JSON.stringify({ verifier, state }));
  const url = new URL(oidc.authorization_url);
  const params = {
    response_type: "code", client_id: oidc.client_id, redirect_uri: redirectUri(),
    scope: oidc.scope, state, code_challenge: base64url(digest), code_challenge_method: "S256",
  };
  if (oidc.audience) params.audience = oidc.audience;
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  location.assign(url.toString());
}

// After the identity provider sent the browser back with ?code=…&state=…: the token.
export async function finishOidc() {
  const query = new URLSearchParams(location.search);
  if (!query.has("code") && !query.has("error")) return false;
  history.replaceState(null, "", location.pathname + "#/signin");
  const flow = JSON.parse(sessionStorage.getItem(FLOW) || "null");
  sessionStorage.removeItem(FLOW);
  if (query.has("error")) throw new Error(`The identity provider said: ${query.get("error")}`);
  if (!flow || flow.state !== query.get("state")) throw new Error("The sign-in did not start here (state mismatch).");
  const { oidc } = await config();
  const form = new URLSearchParams({
    grant_type: "authorization_code", code: query.get("code"), redirect_uri: redirectUri(),
    client_id: oidc.client_id, code_verifier: flow.verifier,
  });
  const answer = await fetch(oidc.token_url, { method: "POST", body: form });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok || !body.access_token) throw new Error(body.error_description || body.error || "The token request failed.");
  signIn(body.access_token);
  return true;
}

export async function signInPage(problem) {
  const settings = await config();
  const parts = [h("h1", {}, "Sign in")];
  if (problem) parts.push(h("div", { class: "alert", role: "alert" }, problem));
  if (settings.oidc) {
    parts.push(h("section", { class: "card" },
      h("h2", {}, "With your organisation's account"),
      h("button", { type: "button", id: "oidc", onclick: () => startOidc(settings.oidc) }, "Sign in with single sign-on")));
  }
  if (settings.local || !settings.oidc) parts.push(tokenForm());
  show(h("div", { class: "sign-in" }, parts));
}

function tokenForm() {
  const error = h("p", { class: "error", id: "token-error" });
  const input = h("textarea", { id: "token", name: "token", required: true, rows: 4, autocomplete: "off", spellcheck: "false", "aria-describedby": "token-hint token-error" });
  const submit = (event) => {
    event.preventDefault();
    try {
      signIn(input.value.trim());
      location.hash = "#/board";
    } catch (exc) {
      error.textContent = exc.message;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  };
  return h("section", { class: "card" },
    h("h2", {}, "With a token"),
    h("form", { onsubmit: submit },
      h("div", { class: "field" },
        h("label", { for: "token" }, "Bearer token"),
        input,
        h("p", { class: "hint", id: "token-hint" }, "On this machine: .venv/bin/fieldcrew token --sub dora --role dispatcher"),
        error),
      h("button", { type: "submit" }, "Sign in")));
}
