// Helpers shared by the demo pages' scripts. Each page's server-rendered
// root element (data-demo-page) carries what the script needs: its page id
// (sent as the "demo" query parameter, so the lab can find its
// connections), the channel and the id to resume after.

/** The page's root element and its data attributes. */
export function pageRoot() {
  const root = document.querySelector("[data-demo-page]");
  if (!root) throw new Error("duet demo: no [data-demo-page] element");
  return root;
}

/** The status line (connStatus): set(text, kind) with kind "ok" | "warn" | "bad". */
export function statusLine() {
  const el = document.querySelector('[data-testid="conn-status"]');
  const text = el.querySelector("[data-status-text]");
  return {
    set(message, kind = "ok") {
      text.textContent = message;
      el.dataset.kind = kind;
    },
  };
}

/** Loads the Duet client, saying so on the status line when it fails. */
export async function loadDuet(status) {
  try {
    return await (await import("/duet.js")).loadDuet();
  } catch (err) {
    status.set(`The Duet client did not load: ${err.message}`, "bad");
    throw err;
  }
}

/** Shows a connection's state and wire on the status line. */
export function showConnection(conn, status, what) {
  const render = (state, wire) => {
    const kind = state === "open" ? "ok" : state === "closed" ? "bad" : "warn";
    status.set(`${what}: ${state}${wire ? " over " + (wire === "sse" ? "SSE" : "WebSocket") : ""}`, kind);
  };
  render(conn.state, conn.transport);
  conn.on("state", render);
}

/** POSTs body as JSON; resolves with the JSON answer, rejects with the server's error. */
export async function postJSON(url, body = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(answer.error || `${url}: HTTP ${res.status}`);
  return answer;
}

/** Keeps a server-side generator running while this page is open. */
export function keepWatching(url, everyMs = 10_000) {
  const ping = () => postJSON(url).catch(() => {});
  ping();
  setInterval(ping, everyMs);
}

/** "hh:mm:ss" of a Unix ms time, UTC like the server-rendered times. */
export function clock(ms) {
  return new Date(ms).toISOString().slice(11, 19);
}
