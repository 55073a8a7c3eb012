// The arena: each page is a player that publishes its position as binary
// frames (conn.publishBinary) and draws everyone else's. Bounded on every
// side: at most data-max-players players drawn, a player whose connection
// leaves the channel's presence removed at once (one riding on another
// tab's connection after STALE_MS of silence), and a page sends at most
// data-hz updates a second.

import { loadDuet, showConnection, statusLine } from "./demo.js";
const root = document.querySelector('[data-testid="game"]');
const channel = root.dataset.channel;
const maxPlayers = Number(root.dataset.maxPlayers) || 16;
const hz = Number(root.dataset.hz) || 30;
const canvas = root.querySelector("canvas");
const ctx = canvas.getContext("2d");
const $ = (id) => root.querySelector(`[data-testid="${id}"]`);

const W = 1000, H = 600, RADIUS = 14, SPEED = 320; // arena units, per second
const STALE_MS = 3000, KEEPALIVE_MS = 1000, VERSION = 1, FLAG_LEAVING = 1;

const rand = (n) => crypto.getRandomValues(new Uint32Array(1))[0] % n;
const me = {
  id: (crypto.getRandomValues(new Uint32Array(1))[0] >>> 0) || 1,
  x: 100 + rand(400), y: 100 + rand(350), hue: rand(256), // away from the walls
};
me.name = "player-" + me.id.toString(36).slice(-4);
$("me").textContent = me.name;
$("me").dataset.id = String(me.id);

// encode writes an update into one reused buffer: nothing is allocated per
// update on this side; publishBinary copies the bytes into the client.
const nameBytes = new TextEncoder().encode(me.name).subarray(0, 16);
const out = new Uint8Array(12 + nameBytes.length);
const outView = new DataView(out.buffer);
function encode(flags) {
  out[0] = VERSION;
  outView.setUint32(1, me.id, true);
  outView.setUint16(5, Math.round(me.x), true);
  outView.setUint16(7, Math.round(me.y), true);
  out[9] = me.hue;
  out[10] = flags;
  out[11] = nameBytes.length;
  out.set(nameBytes, 12);
  return out;
}

const decoder = new TextDecoder();
function decode(b) {
  if (b.length < 12 || b[0] !== VERSION || b.length < 12 + b[11]) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    id: v.getUint32(1, true), x: Math.min(v.getUint16(5, true), W), y: Math.min(v.getUint16(7, true), H),
    hue: b[9], flags: b[10], name: decoder.decode(b.subarray(12, 12 + b[11])),
  };
}

const players = new Map(); // id → {name, hue, x, y, drawX, drawY, last}
const roster = new Map(); // client id → player id, from the channel's presence
const left = new Set(); // players whose connection left the channel
let sent = 0, received = 0;

function onMove(msg) {
  if (!msg.binary || msg.event !== "move") return;
  const u = decode(msg.data);
  if (!u || u.id === me.id) return;
  received++;
  $("update-bytes").textContent = String(msg.data.length);
  if (u.flags & FLAG_LEAVING) { players.delete(u.id); return; }
  if (left.has(u.id)) return; // a late update of a player whose connection left
  let p = players.get(u.id);
  if (!p) {
    if (players.size >= maxPlayers) return; // the arena is full: ignore newcomers
    p = { drawX: u.x, drawY: u.y };
    players.set(u.id, p);
  }
  Object.assign(p, { name: u.name, hue: u.hue, x: u.x, y: u.y, last: performance.now() });
}

// Input: held keys, or a pointer target while pressed.
const held = new Set();
const keys = { ArrowLeft: "l", a: "l", A: "l", ArrowRight: "r", d: "r", D: "r", ArrowUp: "u", w: "u", W: "u", ArrowDown: "d", s: "d", S: "d" };
canvas.addEventListener("keydown", (e) => { const k = keys[e.key]; if (k) { held.add(k); e.preventDefault(); } });
canvas.addEventListener("keyup", (e) => { const k = keys[e.key]; if (k) held.delete(k); });
canvas.addEventListener("blur", () => held.clear());
let target = null;
const toArena = (e) => { const r = canvas.getBoundingClientRect(); return { x: (e.clientX - r.left) / r.width * W, y: (e.clientY - r.top) / r.height * H }; };
canvas.addEventListener("pointerdown", (e) => { canvas.focus(); canvas.setPointerCapture(e.pointerId); target = toArena(e); });
canvas.addEventListener("pointermove", (e) => { if (target) target = toArena(e); });
canvas.addEventListener("pointerup", () => { target = null; });
canvas.addEventListener("pointercancel", () => { target = null; });

function step(dt) {
  let dx = (held.has("r") ? 1 : 0) - (held.has("l") ? 1 : 0);
  let dy = (held.has("d") ? 1 : 0) - (held.has("u") ? 1 : 0);
  if (target && !dx && !dy) {
    const tx = target.x - me.x, ty = target.y - me.y, d = Math.hypot(tx, ty);
    if (d > 2) { dx = tx / d; dy = ty / d; }
  }
  if (!dx && !dy) return false;
  const n = Math.hypot(dx, dy), s = SPEED * dt;
  const x = Math.min(W - RADIUS, Math.max(RADIUS, me.x + dx / n * s));
  const y = Math.min(H - RADIUS, Math.max(RADIUS, me.y + dy / n * s));
  const moved = Math.round(x) !== Math.round(me.x) || Math.round(y) !== Math.round(me.y);
  me.x = x; me.y = y;
  return moved;
}

function draw() {
  const dark = matchMedia("(prefers-color-scheme: dark)").matches;
  ctx.clearRect(0, 0, W, H);
  ctx.strokeStyle = dark ? "#ffffff14" : "#0000000f";
  ctx.lineWidth = 1;
  for (let x = 50; x < W; x += 50) { ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, H); ctx.stroke(); }
  for (let y = 50; y < H; y += 50) { ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(W, y); ctx.stroke(); }
  ctx.font = "16px system-ui, sans-serif";
  ctx.textAlign = "center";
  const dot = (x, y, hue, name, mine) => {
    ctx.fillStyle = `hsl(${hue * 360 / 256} 75% ${dark ? 60 : 45}%)`;
    ctx.beginPath(); ctx.arc(x, y, RADIUS, 0, 2 * Math.PI); ctx.fill();
    if (mine) { ctx.lineWidth = 3; ctx.strokeStyle = dark ? "#fff" : "#000"; ctx.stroke(); }
    ctx.fillStyle = dark ? "#e6edf3" : "#1b1f24";
    ctx.fillText(name, x, y - RADIUS - 6);
  };
  for (const p of players.values()) {
    // Ease toward the latest position: smooth at any frame rate.
    p.drawX += (p.x - p.drawX) * 0.35;
    p.drawY += (p.y - p.drawY) * 0.35;
    dot(p.drawX, p.drawY, p.hue, p.name, false);
  }
  dot(me.x, me.y, me.hue, me.name + " (you)", true);
  requestAnimationFrame(draw);
}

function renderList() {
  const rows = [[me.id, me.name + " (you)", me.hue, me.x, me.y]];
  for (const [id, p] of players) rows.push([id, p.name, p.hue, p.x, p.y]);
  const body = $("players");
  body.replaceChildren(...rows.map(([id, name, hue, x, y]) => {
    const tr = document.createElement("tr");
    tr.dataset.testid = "player";
    tr.dataset.id = String(id);
    tr.dataset.x = String(Math.round(x));
    tr.dataset.y = String(Math.round(y));
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = `hsl(${hue * 360 / 256} 75% 50%)`;
    const td = document.createElement("td");
    td.append(sw, name);
    const tx = document.createElement("td"); tx.textContent = String(Math.round(x));
    const ty = document.createElement("td"); ty.textContent = String(Math.round(y));
    tr.append(td, tx, ty);
    return tr;
  }));
}

async function main() {
  const status = statusLine();
  const Duet = await loadDuet(status);
  // ?transport=sse (or websocket) pins the wire; by default auto picks WebSocket.
  const wire = new URLSearchParams(location.search).get("transport");
  // The connection's presence info names this page's player, so that the
  // others drop it the moment its connection leaves the channel.
  const opts = { info: { player: me.id } };
  if (["auto", "websocket", "sse"].includes(wire)) opts.transport = wire;
  const conn = Duet.connect("/", opts);
  conn.on("state", (state, wire) => {
    $("game-status").textContent = state === "open" ? `Connected over ${wire}: move!` : `Connection ${state}…`;
    $("game-wire").textContent = wire || "–";
    root.dataset.state = state;
    // Tabs of this origin share one connection: one tab leads (holds it),
    // the others ride on it; the roles move when the leader goes away.
    const role = $("game-role");
    role.textContent = !conn.shared ? "this tab's own" : conn.leader ? "leading (shared with other tabs)" : "following another tab";
    role.dataset.role = !conn.shared ? "own" : conn.leader ? "leader" : "follower";
    role.dataset.client = conn.clientId;
  });
  conn.on("error", (err) => { $("game-status").textContent = `Error ${err.code}: ${err.message}`; });
  showConnection(conn, status, "Arena connection");
  conn.subscribe(channel, onMove);

  // Who plays: the channel's presence. A player whose connection leaves is
  // gone at once; only a tab riding on another tab's connection (not in
  // presence by itself) falls back to its goodbye or STALE_MS of silence.
  const readRoster = async () => {
    try {
      const p = await conn.presence(channel);
      roster.clear();
      for (const e of p.clients) if (e.info && typeof e.info.player === "number") roster.set(e.client, e.info.player);
    } catch (err) {
      $("game-status").textContent = `Presence unavailable (${err.code}): ${err.message}`;
    }
  };
  conn.on("state", (state) => { if (state === "open") readRoster(); });
  conn.on("join", (e) => { if (e.channel === channel) readRoster(); });
  conn.on("leave", (e) => {
    if (e.channel !== channel) return;
    const id = roster.get(e.client);
    roster.delete(e.client);
    if (id !== undefined) {
      players.delete(id);
      left.add(id);
    }
  });

  let last = performance.now(), lastSent = 0, inFlight = 0;
  const send = (flags) => {
    if (inFlight >= 4) return; // the connection is behind: skip, the next update supersedes this one
    inFlight++;
    sent++;
    lastSent = performance.now();
    conn.publishBinary(channel, encode(flags), { event: "move" })
      .catch((err) => { $("game-status").textContent = `Publish failed (${err.code}): ${err.message}`; })
      .finally(() => { inFlight--; });
  };
  setInterval(() => {
    const now = performance.now();
    const moved = step(Math.min((now - last) / 1000, 0.1));
    last = now;
    if ((moved || now - lastSent > KEEPALIVE_MS) && conn.state === "open") send(0);
    const listed = new Set(roster.values());
    for (const [id, p] of players) if (!listed.has(id) && now - p.last > STALE_MS) players.delete(id);
  }, 1000 / hz);
  let prevSent = 0, prevRecv = 0;
  setInterval(() => {
    $("sent-rate").textContent = String(sent - prevSent);
    $("recv-rate").textContent = String(received - prevRecv);
    prevSent = sent; prevRecv = received;
  }, 1000);
  setInterval(renderList, 200);
  addEventListener("pagehide", () => { if (conn.state === "open") conn.publishBinary(channel, encode(FLAG_LEAVING), { event: "move" }).catch(() => {}); });
  renderList();
}

requestAnimationFrame(draw);
main().catch((err) => {
  $("game-status").textContent = "Cannot start: " + err.message;
  console.warn(err);
});
