// Start-up of the Duet client, measured in the page: from this script's
// start to the first message through Duet.connect, split into the loader's
// and the Go program's performance marks, then a native EventSource's first
// message. Both resume after the same id, so the message comes from the
// channel's history at once.
//
// Query: channel and after (a channel whose message after id `after` is
// "B"; without them the page publishes A and B on a fresh channel first),
// runs (loads in a row: the first, then reloads 2 s apart, as the browser
// has written its wasm code cache by then; default 1), report (a channel
// the samples of every load are published on, as one message, once the
// last load is done). `go tool task bench:startup` opens this page in a
// Chromium it starts without DevTools attached.
const t0 = performance.now();
const q = new URLSearchParams(location.search);
const runs = Math.min(Math.max(Number(q.get("runs")) || 1, 1), 10);
const report = q.get("report");
const status = document.querySelector('[data-testid="startup-status"]');
const table = document.querySelector('[data-testid="startup"]');
const key = `duet-startup:${q.get("channel") ?? ""}:${report ?? ""}`;

const STAGES = [
  ["import", "import /duet.js"],
  ["fetch", "fetch .wasm (start to last byte)"],
  ["compile", "fetch + compile (streaming)"],
  ["instantiate", "instantiate"],
  ["goInit", "Go runtime + package init"],
  ["register", "API registration"],
  ["loadDuet", "loadDuet() total"],
  ["lock", "Duet.connect → lock (leader)"],
  ["connect", "Duet.connect → first message"],
  ["firstMessage", "first message from script start"],
  ["native", "native EventSource first message"],
];

async function publish(channel, data) {
  const res = await fetch("/rt/publish", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ channel, data }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`publish on ${channel}: HTTP ${res.status} ${body.error ?? ""}`);
  return body.id;
}

/** Resolves with the data subscribe hands its callback first, or rejects (naming what) after 10 s. */
function first(subscribe, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message through ${what} in 10 s`)), 10_000);
    subscribe((data) => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

async function measure(channel, after, start) {
  const mod = await import("/duet.js");
  const tImport = performance.now();
  const Duet = await mod.loadDuet();
  const tConnect = performance.now();
  const data = await first((done) => {
    const conn = Duet.connect("/", { channels: [channel], lastEventId: after });
    conn.on("message", (m) => {
      conn.close();
      done(m.data);
    });
  }, "Duet.connect");
  const tFirst = performance.now();
  if (data !== "B") throw new Error(`Duet.connect: first message ${JSON.stringify(data)}, want "B"`);
  const m = {};
  for (const e of performance.getEntriesByType("mark")) if (e.name.startsWith("duet:")) m[e.name] = e.startTime;
  const wasm = performance.getEntriesByType("resource").find((e) => /\/duet\.([0-9a-f]+\.)?wasm$/.test(e.name));
  const tNative = performance.now();
  const native = await first((done) => {
    const es = new EventSource(`/rt/sse?channel=${encodeURIComponent(channel)}&lastEventId=${encodeURIComponent(after)}`);
    es.onmessage = (e) => {
      es.close();
      done(JSON.parse(e.data).data);
    };
  }, "a native EventSource");
  if (native !== "B") throw new Error(`native EventSource: first message ${JSON.stringify(native)}, want "B"`);
  return {
    import: tImport - start,
    fetch: wasm ? wasm.responseEnd - wasm.startTime : null,
    compile: m["duet:compiled"] - m["duet:load"],
    instantiate: m["duet:instantiated"] - m["duet:compiled"],
    goInit: m["duet:go-main"] - m["duet:instantiated"],
    register: m["duet:api"] - m["duet:go-main"],
    loadDuet: m["duet:ready"] - m["duet:load"],
    lock: m["duet:lock"] !== undefined ? m["duet:lock"] - tConnect : null,
    connect: tFirst - tConnect,
    firstMessage: tFirst - start,
    native: performance.now() - tNative,
    wasmTransferBytes: wasm ? wasm.transferSize : null,
  };
}

function render(samples) {
  const head = document.createElement("tr");
  head.append(...["stage (ms)", ...samples.map((_, i) => (i === 0 ? "first load" : `reload ${i}`))].map((t) => {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = t;
    return th;
  }));
  const rows = STAGES.map(([k, label]) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = label;
    tr.append(th, ...samples.map((s) => {
      const td = document.createElement("td");
      td.textContent = s[k] == null ? "–" : s[k].toFixed(0);
      return td;
    }));
    return tr;
  });
  table.replaceChildren(head, ...rows);
}

try {
  let channel = q.get("channel");
  let after = q.get("after");
  let start = t0;
  if (!channel || !after) {
    channel = `bench:startup-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    after = await publish(channel, "A");
    await publish(channel, "B");
    start = performance.now(); // the clock starts once the channel is ready
  }
  const samples = JSON.parse(sessionStorage.getItem(key) ?? "[]");
  samples.push(await measure(channel, after, start));
  render(samples);
  if (samples.length < runs) {
    sessionStorage.setItem(key, JSON.stringify(samples));
    status.textContent = `load ${samples.length} of ${runs} done; reloading in 2 s…`;
    setTimeout(() => location.reload(), 2_000);
  } else {
    sessionStorage.removeItem(key);
    if (report) await publish(report, samples);
    status.textContent = `done: ${samples.length} load${samples.length > 1 ? "s" : ""}`;
    status.dataset.done = "true";
  }
} catch (err) {
  status.textContent = `failed: ${err.message}`;
  if (report) publish(report, { error: err.message }).catch(() => {});
}
