// Live updates: the API's Server-Sent Events stream where this gateway has one, read with
// fetch (EventSource cannot send a bearer token) and resumed with Last-Event-ID after a drop;
// polling otherwise, or while the stream is down.

import { API, has, token } from "./api.js";

const POLL_MS = 5000;

export function watch(path, onChange, onMode) {
  const stop = new AbortController();
  let timer = null;
  const poll = () => {
    onMode("polling");
    timer = setInterval(onChange, POLL_MS);
  };
  has(`GET ${API}${path}`).then((live) => {
    if (stop.signal.aborted) return;
    if (!live) return poll();
    follow(path, onChange, onMode, stop.signal).catch(() => { if (!stop.signal.aborted) poll(); });
  });
  return () => { stop.abort(); if (timer) clearInterval(timer); };
}

async function follow(path, onChange, onMode, signal) {
  let lastId = null;
  let failures = 0;
  while (!signal.aborted && failures < 5) {
    try {
      const headers = { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const answer = await fetch(API + path, { headers, signal });
      if (!answer.ok || !answer.body) throw new Error(`HTTP ${answer.status}`);
      onMode("live");
      failures = 0;
      const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replaceAll("\r\n", "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = block.split("\n");
          const id = lines.find((l) => l.startsWith("id:"));
          if (id) lastId = id.slice(3).trim();
          if (lines.some((l) => l.startsWith("data:"))) onChange();
        }
      }
    } catch (exc) {
      if (signal.aborted) return;
      failures += 1;
    }
    onMode("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, 1000 * failures));
  }
  throw new Error("the live stream is down");
}
