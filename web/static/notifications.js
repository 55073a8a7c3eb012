// Notifications: the user's own channel over SSE, resuming after what the
// server rendered; toasts for new ones, an unread count kept by the server.
import { pageRoot, statusLine, loadDuet, showConnection, postJSON, clock } from "/static/demo.js";

const root = pageRoot();
const status = statusLine();
const list = root.querySelector('[data-testid="notes"]');
const unread = root.querySelector('[data-testid="unread"]');
const toasts = root.querySelector('[data-testid="toasts"]');
const { pageId, channel, resumeAfter } = root.dataset;

function item(n) {
  const li = document.createElement("li");
  li.dataset.id = n.id;
  li.classList.toggle("unread", !n.read);
  const div = document.createElement("div");
  const b = document.createElement("b");
  b.textContent = n.title;
  const t = document.createElement("time");
  t.dateTime = new Date(n.ts).toISOString();
  t.textContent = clock(n.ts);
  const p = document.createElement("p");
  p.textContent = n.body;
  div.append(b, " ", t, p);
  li.append(div);
  if (!n.read) {
    const btn = document.createElement("button");
    btn.type = "button";
    btn.dataset.action = "read";
    btn.dataset.id = n.id;
    btn.textContent = "Mark read";
    li.append(btn);
  }
  return li;
}

function toast(n) {
  const div = document.createElement("div");
  div.className = "toast";
  div.dataset.testid = "toast";
  const b = document.createElement("b");
  b.textContent = n.title;
  div.append(b, " ", n.body);
  toasts.append(div);
  while (toasts.children.length > 3) toasts.firstElementChild.remove();
  setTimeout(() => div.remove(), 6000);
}

const Duet = await loadDuet(status);
const conn = Duet.connect("", {
  transport: "sse",
  shared: false,
  channels: [channel],
  lastEventId: resumeAfter || undefined,
  params: { demo: pageId },
});
showConnection(conn, status, "Your notifications");
conn.on("message", (m) => {
  if (m.channel !== channel || !m.data) return;
  if (m.event === "notification") {
    root.querySelector('[data-testid="empty"]')?.remove();
    list.prepend(item(m.data));
    while (list.children.length > 50) list.lastElementChild.remove();
    unread.textContent = String(m.data.unread);
    toast(m.data);
  } else if (m.event === "read") {
    for (const id of m.data.ids) {
      const li = list.querySelector(`li[data-id="${CSS.escape(id)}"]`);
      li?.classList.remove("unread");
      li?.querySelector("button")?.remove();
    }
    unread.textContent = String(m.data.unread);
  }
});

root.addEventListener("click", async (e) => {
  const btn = e.target.closest("button[data-action]");
  if (!btn) return;
  try {
    if (btn.dataset.action === "push") await postJSON("/demo/notify/push");
    if (btn.dataset.action === "read-all") await postJSON("/demo/notify/read", { all: true });
    if (btn.dataset.action === "read") await postJSON("/demo/notify/read", { id: btn.dataset.id });
  } catch (err) {
    status.set(err.message, "warn");
  }
});
