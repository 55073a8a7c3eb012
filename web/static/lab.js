// Transport lab: the lab stream on two connections side by side ("auto",
// which starts on WebSocket, and SSE), with counters and a latency chart
// per pane, fault buttons, and the six-connection-limit experiment.
import { pageRoot, statusLine, loadDuet, postJSON, keepWatching } from "/static/demo.js";

const root = pageRoot();
const status = statusLine();
const { pageId, channel, resumeAfter } = root.dataset;
const tabs = Number(root.dataset.tabs);
const WINDOW = 60; // seconds charted

keepWatching("/demo/lab/watch");
const Duet = await loadDuet(status);
status.set("Both panes connecting…", "warn");

/** One pane: a connection and what it measured. */
function pane(key, transport) {
  const el = root.querySelector(`[data-pane="${key}"]`);
  const m = (name) => el.querySelector(`[data-m="${name}"]`);
  const canvas = el.querySelector("canvas");
  const p = {
    received: 0, lost: 0, doubled: 0, reconnects: 0,
    lastN: 0, wasOpen: false,
    second: [],  // latencies of the current second
    arrivals: 0, // messages in the current second
    series: [],  // [{p50, p99}] one per second, newest last
  };
  const conn = Duet.connect("", {
    transport,
    shared: false,
    channels: [channel],
    lastEventId: resumeAfter || undefined,
    params: { demo: pageId },
    wsRetryAfter: 5000, // come back to WebSocket soon after it is unblocked
    backoff: { initialMs: 200, maxMs: 2000 },
  });
  conn.on("state", (state, wire) => {
    m("state").textContent = state;
    m("wire").textContent = wire === "websocket" ? "WebSocket" : wire === "sse" ? "SSE" : "—";
    el.dataset.state = state;
    el.dataset.wire = wire;
    if (state === "open") {
      if (p.wasOpen) p.reconnects++;
      p.wasOpen = true;
      m("reconnects").textContent = String(p.reconnects);
    }
    overall();
  });
  conn.on("message", (msg) => {
    if (msg.channel !== channel || msg.event !== "tick") return;
    const n = Number(msg.data.n);
    if (p.lastN && n <= p.lastN) p.doubled++;
    else if (p.lastN && n > p.lastN + 1) p.lost += n - p.lastN - 1;
    if (n > p.lastN) p.lastN = n;
    p.received++;
    p.arrivals++;
    p.second.push(Math.max(0, Date.now() - msg.ts));
  });
  conn.on("gap", () => {
    // Resume could not be exact: numbers restart from what arrives next
    // (counted, so that a test can tell a gap from an exact resume).
    p.lastN = 0;
    el.dataset.gaps = String(Number(el.dataset.gaps || 0) + 1);
  });
  p.conn = conn;
  p.tick = () => {
    const s = p.second.sort((a, b) => a - b);
    const q = (f) => (s.length ? s[Math.min(s.length - 1, Math.floor(f * s.length))] : null);
    p.series.push({ p50: q(0.5), p99: q(0.99) });
    if (p.series.length > WINDOW) p.series.shift();
    m("rate").textContent = String(p.arrivals);
    m("received").textContent = String(p.received);
    m("lost").textContent = String(p.lost);
    m("doubled").textContent = String(p.doubled);
    m("p50").textContent = q(0.5) === null ? "—" : `${q(0.5)} ms`;
    m("p99").textContent = q(0.99) === null ? "—" : `${q(0.99)} ms`;
    p.second = [];
    p.arrivals = 0;
    draw(canvas, p.series);
  };
  return p;
}

/** Draws p50 (solid) and p99 (dashed) over the last WINDOW seconds. */
function draw(canvas, series) {
  const ctx = canvas.getContext("2d");
  const { width: w, height: h } = canvas;
  const style = getComputedStyle(document.body);
  const fg = style.getPropertyValue("--muted") || "#57606a";
  const accent = style.getPropertyValue("--accent") || "#0b62d6";
  const warn = style.getPropertyValue("--warn") || "#b35900";
  ctx.clearRect(0, 0, w, h);
  const max = Math.max(10, ...series.map((s) => s.p99 ?? 0));
  const top = Math.pow(10, Math.ceil(Math.log10(max)));
  const scale = top / 2 >= max ? top / 2 : top;
  const pad = 28;
  ctx.strokeStyle = fg;
  ctx.globalAlpha = 0.3;
  ctx.beginPath();
  for (const f of [0, 0.5, 1]) {
    const y = h - 4 - f * (h - 14);
    ctx.moveTo(pad, y);
    ctx.lineTo(w, y);
  }
  ctx.stroke();
  ctx.globalAlpha = 1;
  ctx.fillStyle = fg;
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillText(`${scale} ms`, 0, 14);
  ctx.fillText("0", 0, h - 4);
  const line = (key, color, dash) => {
    ctx.strokeStyle = color;
    ctx.setLineDash(dash);
    ctx.lineWidth = 2;
    ctx.beginPath();
    let started = false;
    series.forEach((s, i) => {
      if (s[key] === null) {
        started = false;
        return;
      }
      const x = pad + ((w - pad) * (i + WINDOW - series.length)) / (WINDOW - 1);
      const y = h - 4 - (Math.min(s[key], scale) / scale) * (h - 14);
      if (started) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      started = true;
    });
    ctx.stroke();
    ctx.setLineDash([]);
  };
  line("p99", warn, [5, 3]);
  line("p50", accent, []);
}

const panes = [pane("auto", "auto"), pane("sse", "sse")];
function overall() {
  const open = panes.filter((p) => p.conn.state === "open").length;
  status.set(open === 2 ? "Both panes open" : `${open} of 2 panes open`, open === 2 ? "ok" : "warn");
}
overall();
setInterval(() => panes.forEach((p) => p.tick()), 1000);

// --- faults --------------------------------------------------------------

const blockBtn = root.querySelector('[data-action="block"]');
const summary = root.querySelector('[data-testid="limit-summary"]');
const sourcesList = root.querySelector('[data-testid="sources"]');
const framesBox = root.querySelector('[data-testid="frames"]');
let natives = [];
let nativeTimer;

// Which HTTP this page came over decides whether native EventSources wait.
const protocol = performance.getEntriesByType("navigation")[0]?.nextHopProtocol || "";
const http2 = protocol === "h2" || protocol === "h3";
root.querySelector('[data-testid="limit-protocol"]').textContent = http2
  ? `This page came over HTTP/2 (${protocol}): its EventSources share one connection, none waits.`
  : `This page came over ${protocol === "http/1.1" ? "HTTP/1.1" : protocol || "HTTP/1.1"}: at most six connections to this origin.`;

function closeAll() {
  natives.forEach((es) => es.close());
  natives = [];
  clearTimeout(nativeTimer);
  sourcesList.replaceChildren();
  framesBox.replaceChildren();
}

function openNatives() {
  closeAll();
  const url = `/rt/sse?channel=${encodeURIComponent(channel)}`;
  for (let i = 1; i <= tabs; i++) {
    const es = new EventSource(url);
    const li = document.createElement("li");
    li.dataset.state = "connecting";
    li.textContent = `EventSource ${i}: connecting`;
    let count = 0;
    es.onopen = () => {
      li.dataset.state = "open";
      li.textContent = `EventSource ${i}: open`;
    };
    es.addEventListener("tick", () => {
      count++;
      li.textContent = `EventSource ${i}: open, ${count} messages`;
    });
    sourcesList.append(li);
    natives.push(es);
  }
  const report = () => {
    const open = natives.filter((es) => es.readyState === EventSource.OPEN).length;
    summary.textContent = http2
      ? `${open} of ${tabs} native EventSources open, ${tabs - open} waiting: over HTTP/2 they share one connection.`
      : `${open} of ${tabs} native EventSources open, ${tabs - open} waiting for a free connection.`;
  };
  const poll = setInterval(report, 500);
  nativeTimer = setTimeout(() => {
    clearInterval(poll);
    report();
    closeAll();
    summary.textContent += " Closed after 15 s, so the page's other requests can go through.";
  }, 15_000);
}

function openTabs() {
  closeAll();
  for (let i = 1; i <= tabs; i++) {
    const f = document.createElement("iframe");
    f.src = `/lab/tab?n=${i}`;
    f.title = `Duet tab ${i}`;
    framesBox.append(f);
  }
  summary.textContent = `${tabs} Duet tabs: one holds the connection (leader), the others share it.`;
}

root.addEventListener("click", async (e) => {
  const btn = e.target.closest("button[data-action]");
  if (!btn) return;
  try {
    switch (btn.dataset.action) {
      case "drop": {
        const { ended } = await postJSON("/demo/lab/drop", { page: pageId });
        status.set(`Dropped ${ended} connections with no goodbye; reconnecting…`, "warn");
        break;
      }
      case "restart": {
        const { ended } = await postJSON("/demo/lab/restart", { page: pageId });
        status.set(`The server told ${ended} connections to reconnect (4002)…`, "warn");
        break;
      }
      case "block": {
        const block = btn.getAttribute("aria-pressed") !== "true";
        await postJSON("/demo/lab/block", { page: pageId, block });
        btn.setAttribute("aria-pressed", String(block));
        btn.textContent = block ? "Unblock WebSocket" : "Block WebSocket";
        status.set(block ? "WebSocket refused for this page: auto falls back to SSE" : "WebSocket allowed again: auto returns to it within seconds", "warn");
        break;
      }
      case "twice": {
        // Two POSTs of one message with one Idempotency-Key: one id.
        const key = `lab-${pageId}-${Date.now()}`;
        const post = async () => {
          const r = await fetch("/rt/publish", {
            method: "POST",
            headers: { "Content-Type": "application/json", "Idempotency-Key": key },
            body: JSON.stringify({ channel: `lab:twice:${pageId}`, event: "twice", data: { key } }),
          });
          const body = await r.json();
          if (!r.ok) throw new Error(body.message || `HTTP ${r.status}`);
          return body.id;
        };
        const first = await post();
        const second = await post();
        const out = root.querySelector('[data-testid="twice-result"]');
        out.dataset.first = first;
        out.dataset.second = second;
        out.textContent = first === second
          ? `Both publishes answered id ${first}: stored once.`
          : `Two ids: ${first} and ${second} (stored twice!)`;
        break;
      }
      case "native":
        openNatives();
        break;
      case "tabs":
        openTabs();
        break;
      case "close-all":
        closeAll();
        summary.textContent = "";
        break;
    }
  } catch (err) {
    status.set(err.message, "bad");
  }
});
