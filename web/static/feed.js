// Feed: many messages a second, painted once per animation frame with only
// the newest quote of each symbol.
import { pageRoot, statusLine, loadDuet, showConnection, keepWatching } from "/static/demo.js";

const root = pageRoot();
const status = statusLine();
const { pageId, channel } = root.dataset;
const rows = new Map();
for (const tr of root.querySelectorAll("tr[data-symbol]")) {
  rows.set(tr.dataset.symbol, { p: tr.querySelector('[data-field="p"]'), c: tr.querySelector('[data-field="c"]'), tr });
}
const el = (id) => root.querySelector(`[data-testid="${id}"]`);
const pending = new Map(); // symbol → newest quote since the last frame
let count = 0;
let frames = 0;
let scheduled = false;
const arrivals = []; // arrival times in the last second

function paint() {
  scheduled = false;
  frames++;
  for (const [symbol, q] of pending) {
    const row = rows.get(symbol);
    if (!row) continue;
    const up = Number(q.p) >= Number(row.p.textContent);
    row.p.textContent = Number(q.p).toFixed(2);
    row.c.textContent = `${Number(q.c).toFixed(2)}%`;
    row.tr.dataset.dir = up ? "up" : "down";
  }
  pending.clear();
  el("feed-count").textContent = String(count);
  el("feed-frames").textContent = String(frames);
}

keepWatching("/demo/feed/watch");
const Duet = await loadDuet(status);
const conn = Duet.connect("", { transport: "sse", shared: false, channels: [channel], params: { demo: pageId } });
showConnection(conn, status, "Ticker");
conn.on("message", (m) => {
  if (m.channel !== channel || m.event !== "tick" || !m.data) return;
  count++;
  arrivals.push(performance.now());
  pending.set(m.data.s, m.data);
  if (!scheduled) {
    scheduled = true;
    requestAnimationFrame(paint);
  }
});
setInterval(() => {
  const cut = performance.now() - 1000;
  while (arrivals.length && arrivals[0] < cut) arrivals.shift();
  el("feed-rate").textContent = String(arrivals.length);
}, 500);
