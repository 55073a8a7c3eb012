// Chat: the room's stream over SSE (its own connection, resuming right
// after the messages the server rendered), messages sent with a POST.
import { pageRoot, statusLine, loadDuet, showConnection, postJSON, clock } from "/static/demo.js";

const root = pageRoot();
const status = statusLine();
const list = root.querySelector('[data-testid="messages"]');
const form = root.querySelector('[data-testid="chat-form"]');
const nick = form.querySelector("#nick");
const text = form.querySelector("#text");
const note = root.querySelector('[data-testid="chat-note"]');
const { pageId, room, channel, resumeAfter } = root.dataset;

nick.value = localStorage.getItem("duet-nick") || `guest-${Math.floor(Math.random() * 9000 + 1000)}`;
nick.addEventListener("change", () => localStorage.setItem("duet-nick", nick.value.trim()));
list.scrollTop = list.scrollHeight;

function line(m) {
  const li = document.createElement("li");
  li.dataset.id = m.id;
  const t = document.createElement("time");
  t.dateTime = new Date(m.ts).toISOString();
  t.textContent = clock(m.ts);
  const b = document.createElement("b");
  b.className = "nick";
  b.textContent = String(m.data.nick).slice(0, 24);
  const s = document.createElement("span");
  s.className = "text";
  s.textContent = String(m.data.text).slice(0, 500);
  li.append(t, " ", b, " ", s);
  return li;
}

const Duet = await loadDuet(status);
const conn = Duet.connect("", {
  transport: "sse",
  shared: false, // resume exactly after the rendered history
  channels: [channel],
  lastEventId: resumeAfter || undefined,
  params: { demo: pageId },
  info: { nick: nick.value.trim().slice(0, 24) },
});
showConnection(conn, status, `#${room}`);

// Who is in the room: the channel's presence, read when the connection
// opens, kept up to date by join and leave events.
const whoList = root.querySelector('[data-testid="who-list"]');
const whoCount = root.querySelector('[data-testid="who-count"]');
const whoMore = root.querySelector('[data-testid="who-more"]');
const WHO_SHOWN = 30;
const who = new Map(); // client id → nick
const nickOf = (e) => String((e.info && e.info.nick) || e.user || `guest ${e.client.slice(0, 4)}`).slice(0, 24);

function renderWho() {
  whoCount.textContent = String(who.size);
  const names = [...who].sort((a, b) => a[1].localeCompare(b[1]));
  whoList.replaceChildren(...names.slice(0, WHO_SHOWN).map(([client, name]) => {
    const li = document.createElement("li");
    li.dataset.client = client;
    li.textContent = client === conn.clientId ? `${name} (you)` : name;
    return li;
  }));
  const more = names.length - WHO_SHOWN;
  whoMore.hidden = more <= 0;
  whoMore.textContent = more > 0 ? `and ${more} more` : "";
}

async function readWho() {
  try {
    const p = await conn.presence(channel);
    who.clear();
    for (const e of p.clients) who.set(e.client, nickOf(e));
    renderWho();
    return p;
  } catch (err) {
    whoCount.textContent = `unknown (${err.code})`;
    return null;
  }
}

function presenceLine(text) {
  const li = document.createElement("li");
  li.className = "presence";
  li.dataset.testid = "presence-line";
  const t = document.createElement("time");
  t.dateTime = new Date().toISOString();
  t.textContent = clock(Date.now());
  li.append(t, " ", text);
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(li);
  if (atBottom) list.scrollTop = list.scrollHeight;
}

conn.on("state", (s) => { if (s === "open") readWho(); });
conn.on("join", async (e) => {
  if (e.channel !== channel) return;
  // The event names the client; its nick is in its presence info.
  const p = await readWho();
  const entry = p && p.clients.find((c) => c.client === e.client);
  presenceLine(`${entry ? nickOf(entry) : nickOf(e)} joined`);
});
conn.on("leave", (e) => {
  if (e.channel !== channel) return;
  const name = who.get(e.client) || nickOf(e);
  who.delete(e.client);
  renderWho();
  presenceLine(`${name} left`);
});
conn.on("message", (m) => {
  if (m.channel !== channel || m.event !== "chat" || !m.data || typeof m.data !== "object") return;
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(line(m));
  if (atBottom) list.scrollTop = list.scrollHeight;
});
conn.on("gap", (g) => (note.textContent = `Some messages expired while you were away (${g.reason}).`));

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { room, nick: nick.value.trim(), text: text.value.trim() };
  if (!body.nick || !body.text) return;
  localStorage.setItem("duet-nick", body.nick);
  form.querySelector("button").disabled = true;
  try {
    await postJSON("/demo/chat/send", body);
    text.value = "";
    note.textContent = "";
  } catch (err) {
    note.textContent = err.message;
  } finally {
    form.querySelector("button").disabled = false;
    text.focus();
  }
});

// "Load earlier messages": pages of history before the oldest message
// shown, read with conn.history (GET /rt/history), walking backward.
const earlier = root.querySelector('[data-action="earlier"]');
const earlierNote = root.querySelector('[data-testid="earlier-note"]');
earlier.addEventListener("click", async () => {
  earlier.disabled = true;
  try {
    const oldest = list.firstElementChild?.dataset.id;
    const page = await conn.history(channel, oldest ? { since: oldest, reverse: true, limit: 20 } : { limit: 20 });
    const lines = page.messages.filter((m) => m.event === "chat" && m.data && typeof m.data === "object").map(line);
    const height = list.scrollHeight;
    list.prepend(...lines);
    list.scrollTop += list.scrollHeight - height; // keep the view where it was
    if (page.next) {
      earlierNote.textContent = `${lines.length} earlier messages loaded.`;
      earlier.disabled = false;
    } else {
      earlierNote.textContent = page.complete
        ? "This is the beginning of the room."
        : "This is as far back as the server keeps: older messages expired.";
    }
  } catch (err) {
    earlierNote.textContent = err.message;
    earlier.disabled = false;
  }
});

root.querySelector('[data-action="drop"]').addEventListener("click", async () => {
  try {
    const { ended } = await postJSON("/demo/lab/drop", { page: pageId });
    note.textContent = `Dropped ${ended} connection${ended === 1 ? "" : "s"}: Duet reconnects and resumes after the last message it saw.`;
  } catch (err) {
    note.textContent = err.message;
  }
});
