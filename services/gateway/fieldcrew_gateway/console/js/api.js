// The console's one way to the API: the bearer token of this tab, JSON in and out, and the
// API's error shape {error: {code, message, details}} turned into an ApiError.

const TOKEN = "fieldcrew.token";
export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "error";
    this.details = error.details || [];
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN);
}

export function signIn(value) {
  const claims = decode(value);
  if (!claims) throw new Error("This is not a token from `fieldcrew token` (a JWT).");
  if (claims.exp && claims.exp * 1000 < Date.now()) throw new Error("This token has expired.");
  sessionStorage.setItem(TOKEN, value);
  return claims;
}

export function signOut() {
  sessionStorage.removeItem(TOKEN);
}

// The API no longer accepts this tab's token (expired, or its key rotated): sign in again.
export function signedOut() {
  signOut();
  location.hash = "#/signin";
}

function decode(value) {
  const parts = String(value || "").trim().split(".");
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replaceAll("-", "+").replaceAll("_", "/"));
    return JSON.parse(decodeURIComponent(escape(json)));
  } catch {
    return null;
  }
}

// Who the console shows itself to; the API decides what each may do.
export function me() {
  const claims = decode(token());
  if (!claims) return null;
  const role = claims.role;
  return {
    sub: claims.sub,
    role,
    dispatches: role === "dispatcher" || role === "admin",
    office: ["dispatcher", "admin", "analyst"].includes(role),
    readOnly: role === "analyst",
  };
}

// Answers a read may wait out and ask again: too many requests, a backend briefly down.
const BUSY = [429, 503];

export async function request(path, { method = "GET", body, headers = {}, raw = false } = {}) {
  const sent = { method, headers: { ...headers, Authorization: `Bearer ${token()}` } };
  if (body !== undefined) {
    sent.body = JSON.stringify(body);
    sent.headers["Content-Type"] = "application/json";
  }
  let answer = await fetch(API + path, sent);
  for (let retry = 0; method === "GET" && BUSY.includes(answer.status) && retry < 2; retry += 1) {
    const wait = Math.min(5, Number(answer.headers.get("Retry-After")) || 1);
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    answer = await fetch(API + path, sent);
  }
  if (answer.status === 401) signedOut();
  if (!answer.ok) {
    let error = { message: `HTTP ${answer.status}` };
    try { error = (await answer.json()).error || error; } catch { /* not JSON */ }
    throw new ApiError(answer.status, error);
  }
  if (raw) return answer;
  return answer.status === 204 ? null : answer.json();
}

export const get = (path) => request(path);

// ``path``'s view once it shows the event at log position ``seq`` (an event stream's ``id``):
// views made from projections follow the log a moment later, and say how far they are (``seq``).
export async function fresh(path, seq = 0, tries = 12) {
  for (let n = 1; ; n += 1) {
    const view = await get(path);
    if (!(view.seq < seq) || n >= tries) return view;
    await new Promise((resolve) => setTimeout(resolve, 100 * n));
  }
}
export const post = (path, body) => request(path, { method: "POST", body });

let operations = null;
// The API's operations ("GET /api/v1/events", ...) and schemas, from its OpenAPI document:
// the console offers what this gateway has (live events, cancel, crew change, reject).
export async function features() {
  if (!operations) {
    const doc = await (await fetch("/openapi.json")).json();
    const ops = new Set();
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const method of Object.keys(item)) ops.add(`${method.toUpperCase()} ${path}`);
    }
    operations = { ops, schemas: (doc.components || {}).schemas || {} };
  }
  return operations;
}

export async function has(operation) {
  return (await features()).ops.has(operation);
}

export async function statuses() {
  const schema = (await features()).schemas.WorkOrderStatus;
  return schema && schema.enum ? schema.enum
    : ["issued", "in_progress", "report_submitted", "rework", "completed", "cancelled"];
}
