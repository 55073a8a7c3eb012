// Home: one shared connection (the default: one per origin, whatever the
// number of tabs) subscribed to the demo's pulse; the comparison table's
// last column shows what it does.
import { pageRoot, statusLine, loadDuet, showConnection, clock, keepWatching } from "/static/demo.js";

const root = pageRoot();
const status = statusLine();
const live = (key) => root.querySelector(`[data-live="${key}"]`);
const set = (key, text) => {
  const el = live(key);
  if (el) el.textContent = text;
};

set("native", typeof EventSource === "function" ? "yes" : "no (the polyfill stands in)");
keepWatching("/demo/pulse/watch");
const Duet = await loadDuet(status);
set("load", `${Math.round(Duet.loadTimeMs)} ms`);

const pageId = root.dataset.pageId;
const conn = Duet.connect("", { channels: ["demo:pulse", "demo:echo", "site:pages"], params: { demo: pageId } });
showConnection(conn, status, "Connection");

// How many pages are here: the presence of site:pages, which every home
// page's connection holds (counts only: O(1) on the server).
async function countPages() {
  if (conn.state !== "open") return;
  try {
    const { count } = await conn.presenceStats("site:pages");
    set("pages", String(count));
  } catch (err) {
    set("pages", `unknown (${err.code})`);
  }
}
conn.on("state", countPages);
setInterval(countPages, 2000);

let pulses = 0;
let lastPulse = 0;
let reconnects = 0;
let wasOpen = false;
let lastBeforeDrop = "";

function renderWire() {
  const wire = conn.transport;
  set("wire", wire === "websocket" ? "WebSocket" : wire === "sse" ? "SSE" : "nothing yet");
  set("publish", wire === "websocket" ? "WebSocket frames" : wire === "sse" ? "HTTP POST /rt/publish" : "—");
  set("endpoint", wire === "websocket" ? "GET /rt/ws, upgraded" : wire === "sse" ? "plain GET /rt/sse" : "—");
  set("role", conn.shared ? (conn.leader ? "holds the origin's one connection" : "rides on another tab's connection") : "has its own connection");
}

function showServer(live) {
  set("server-sse", String(live.sse));
  set("server-ws", String(live.ws));
}

conn.on("state", (state) => {
  if (state === "reconnecting" && wasOpen) lastBeforeDrop = conn.lastEventId;
  if (state === "open") {
    // The counts rendered with the page predate this page's connection.
    fetch("/demo/live").then((r) => r.json()).then(showServer, () => {});
    if (wasOpen) {
      reconnects++;
      set("reconnects", String(reconnects));
      set("resume", `after ${lastBeforeDrop || "(nothing yet)"} at ${clock(Date.now())}`);
    }
    wasOpen = true;
  }
  renderWire();
});
conn.on("gap", (g) => set("resume", `gap (${g.reason}) at ${clock(Date.now())}; went on from ${g.id}`));
conn.on("message", (m) => {
  set("last-id", m.id);
  if (m.channel === "demo:echo" && m.data && m.data.from === pageId) {
    const wire = conn.transport === "websocket" ? "a WebSocket frame" : "POST";
    set("echo", `${Math.round(performance.now() - m.data.sent)} ms there and back (sent by ${wire})`);
  }
  if (m.channel === "demo:pulse" && m.event === "pulse") {
    pulses++;
    lastPulse = Date.now();
    set("pulses", String(pulses));
    showServer(m.data);
  }
});
setInterval(() => {
  set("pulse-age", lastPulse ? `${Math.round((Date.now() - lastPulse) / 1000)} s ago` : "not yet");
  renderWire();
}, 1000);
renderWire();

// Direction: publish on this connection and time the message's way back.
root.querySelector('[data-action="echo"]').addEventListener("click", async () => {
  try {
    await conn.publish("demo:echo", { from: pageId, sent: performance.now() });
  } catch (err) {
    set("echo", `publish failed: ${err.message}`);
  }
});
