// Live updates: the API's Server-Sent Events, read with fetch() so that the bearer token goes
// in the Authorization header as on every other call (EventSource cannot send one, and a
// token in a URL is written into access logs and the browser's history). A dropped stream is
// resumed with Last-Event-ID, so nothing is missed; a stream that ends (the server restarts,
// the token is no longer accepted) is opened again. Polling stands in where the stream is not
// offered to this caller, and while it stays down.

import { API, has, signedOut, token } from "./api.js";

export const POLL_MS = 5000;
const POLL_AFTER_FAILURES = 2;
const MAX_BACKOFF_MS = 30000;

// Follows ``path`` (``route``: its path in the OpenAPI document, where this gateway lists
// it): ``onEvent({id, event, data})`` for each event, ``onResync()`` when events may have been
// missed (the stream opened without a position to resume from, or polling),
// ``onMode("live" | "reconnecting" | "polling")``. ``lastId``: resume after this event.
// Returns a function that stops it all.
export function watch(path, { route = path, onEvent, onResync, onMode, lastId = null, live = true }) {
  const stop = new AbortController();
  let timer = null;
  const polling = (on) => {
    if (on && !timer) timer = setInterval(() => { if (!stop.signal.aborted) onResync(); }, POLL_MS);
    if (!on && timer) { clearInterval(timer); timer = null; }
    if (on) onMode("polling");
  };
  const follow = async () => {
    if (!live || !(await has(`GET ${API}${route}`))) return polling(true);
    await stream(path, lastId, { onEvent, onResync, onMode, polling }, stop.signal);
  };
  follow().catch(() => polling(true));
  return () => { stop.abort(); polling(false); };
}

class Final extends Error {}

async function stream(path, lastId, hooks, signal) {
  let failures = 0;
  while (!signal.aborted) {
    try {
      const headers = { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const answer = await fetch(API + path, { headers, signal, cache: "no-store" });
      if (answer.status === 401) { signedOut(); return; }
      if ([403, 404].includes(answer.status)) throw new Final(`HTTP ${answer.status}`);
      if (!answer.ok || !answer.body) throw new Error(`HTTP ${answer.status}`);
      failures = 0;
      hooks.polling(false);
      hooks.onMode("live");
      if (!lastId) hooks.onResync();
      for await (const message of messages(answer.body, signal)) {
        if (message.id) lastId = message.id;
        if (message.data !== undefined) hooks.onEvent(message);
      }
    } catch (exc) {
      if (signal.aborted) return;
      if (exc instanceof Final) { hooks.polling(true); return; }
      failures += 1;
    }
    if (failures >= POLL_AFTER_FAILURES) hooks.polling(true);
    else hooks.onMode("reconnecting");
    await pause(Math.min(MAX_BACKOFF_MS, 250 * 2 ** failures), signal);
  }
}

// The messages of an event stream as the SSE format defines them: ``field: value`` lines,
// ``data`` lines joined, a blank line ends a message, lines starting with ":" are comments.
async function* messages(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let message = {};
  try {
    while (!signal.aborted) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const line of lines) {
        if (line === "") {
          if (message.data !== undefined) {
            yield { id: message.id, event: message.event || "message", data: JSON.parse(message.data) };
          } else if (message.id) {
            yield { id: message.id };
          }
          message = {};
        } else if (!line.startsWith(":")) {
          const at = line.indexOf(":");
          const name = at < 0 ? line : line.slice(0, at);
          const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
          if (name === "data") message.data = message.data === undefined ? value : `${message.data}\n${value}`;
          else if (name === "id" || name === "event") message[name] = value;
        }
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

// Runs ``work(arg)`` one at a time, at most once every ``gapMs``: calls while one runs are
// folded into one more run after it (with the largest ``arg``), so a burst of events costs a
// few reads, not one each. A run that fails is tried again once more work is asked for.
export function coalesced(work, gapMs = 750) {
  let running = null;
  let wanted = null;
  return (arg = 0) => {
    if (running) {
      wanted = Math.max(wanted ?? 0, arg);
      return running;
    }
    running = (async () => {
      let current = arg;
      try {
        for (;;) {
          const started = Date.now();
          await work(current).catch((exc) => console.warn(exc));
          if (wanted === null) return;
          [current, wanted] = [wanted, null];
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, gapMs - (Date.now() - started))));
        }
      } finally {
        running = null;
      }
    })();
    return running;
  };
}
