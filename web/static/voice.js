// The voice and video room: MediaRecorder chunks published as binary
// frames (conn.publishBinary), played back per participant with
// MediaSource. Bounded: at most data-max-peers participants are played, a
// chunk over data-max-chunk-bytes is not sent, each player keeps at most
// ~20 s of buffer, and a participant silent for PEER_STALE_MS is removed.

import { loadDuet, showConnection, statusLine } from "./demo.js";
const root = document.querySelector('[data-testid="voice"]');
const channel = root.dataset.channel;
const maxPeers = Number(root.dataset.maxPeers) || 6;
const chunkMs = Number(root.dataset.chunkMs) || 250;
const segmentMs = Number(root.dataset.segmentMs) || 4000;
const maxChunkBytes = Number(root.dataset.maxChunkBytes) || 60000;
const $ = (id) => root.querySelector(`[data-testid="${id}"]`);

const VERSION = 1, HEADER = 10, PEER_STALE_MS = 10000;
// Formats by the number the header carries; the recorder picks the first
// this browser can record.
const FORMATS = ["video/webm;codecs=vp8,opus", "video/webm;codecs=vp8", "audio/webm;codecs=opus"];

const me = (crypto.getRandomValues(new Uint32Array(1))[0] >>> 0) || 1;
$("voice-me").textContent = "#" + me.toString(36);
const stats = { chunksSent: 0, bytesSent: 0, chunksReceived: 0, bytesReceived: 0 };
let conn = null;
let joined = false;

function showStats() {
  $("chunks-sent").textContent = String(stats.chunksSent);
  $("bytes-sent").textContent = String(stats.bytesSent);
  $("chunks-received").textContent = String(stats.chunksReceived);
  $("bytes-received").textContent = String(stats.bytesReceived);
}

function status(text) { $("voice-status").textContent = text; }

// ---- sending ----

let stream = null, recorder = null, segment = 0, segmentTimer = 0, format = -1;

async function join() {
  $("voice-join").disabled = true;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240, frameRate: 15 } });
  } catch (err) {
    status(`No camera or microphone: ${err.message}`);
    $("voice-join").disabled = false;
    return;
  }
  const formats = stream.getVideoTracks().length ? FORMATS : FORMATS.slice(2);
  format = FORMATS.indexOf(formats.find((f) => MediaRecorder.isTypeSupported(f)) ?? "");
  if (format < 0) {
    status("This browser cannot record WebM: nothing to send.");
    stream.getTracks().forEach((t) => t.stop());
    $("voice-join").disabled = false;
    return;
  }
  const local = $("local-video");
  local.srcObject = stream;
  local.play().catch(() => {});
  joined = true;
  for (const p of peers.values()) p.video.muted = false; // the click allows sound
  $("voice-leave").disabled = false;
  startRecording();
  segmentTimer = setInterval(startRecording, segmentMs);
  status(`In the room: sending ${FORMATS[format]} every ${chunkMs} ms.`);
}

// startRecording starts a fresh recording, whose first chunk carries the
// WebM header a late joiner needs, and then stops the previous one; its
// last chunks are dropped by receivers, which have moved on.
function startRecording() {
  const old = recorder;
  const seg = segment = (segment + 1) & 0xffff;
  const rec = new MediaRecorder(stream, { mimeType: FORMATS[format], videoBitsPerSecond: 250_000, audioBitsPerSecond: 32_000 });
  let seq = 0, order = Promise.resolve();
  rec.addEventListener("dataavailable", (e) => {
    if (!e.data.size) return;
    const n = seq++;
    // Blobs are read asynchronously: chain the reads to send in order.
    order = order
      .then(async () => send(seg, n, new Uint8Array(await e.data.arrayBuffer())))
      .catch((err) => console.warn("duet voice: cannot read a recorded chunk:", err));
  });
  rec.start(chunkMs);
  recorder = rec;
  if (old && old.state !== "inactive") old.stop();
}

function send(seg, seq, webm) {
  if (webm.length > maxChunkBytes) {
    console.warn(`duet voice: a ${webm.length}-byte chunk is over the ${maxChunkBytes}-byte limit; not sent`);
    return;
  }
  if (seq > 0xffff || !conn || !joined) return; // after leave: the last chunks of the recorder stay here
  const buf = new Uint8Array(HEADER + webm.length);
  const v = new DataView(buf.buffer);
  buf[0] = VERSION;
  v.setUint32(1, me, true);
  v.setUint16(5, seg, true);
  v.setUint16(7, seq, true);
  buf[9] = format;
  buf.set(webm, HEADER);
  conn.publishBinary(channel, buf, { event: "chunk" }).then(() => {
    stats.chunksSent++;
    stats.bytesSent += buf.length;
  }, (err) => status(`A chunk was not sent (${err.code}): ${err.message}`));
}

function leave() {
  clearInterval(segmentTimer);
  if (recorder && recorder.state !== "inactive") recorder.stop();
  recorder = null;
  stream?.getTracks().forEach((t) => t.stop());
  stream = null;
  joined = false;
  $("local-video").srcObject = null;
  $("voice-leave").disabled = true;
  $("voice-join").disabled = false;
  conn?.publish(channel, { id: me }, { event: "leave" }).catch(() => {});
  status("You left the room; you still see and hear the others.");
}

// ---- receiving ----

const peers = new Map(); // sender id → peer

function peerFor(id) {
  let p = peers.get(id);
  if (p) return p;
  if (peers.size >= maxPeers) return null;
  const fig = document.createElement("figure");
  fig.className = "tile";
  fig.dataset.testid = "peer";
  fig.dataset.id = String(id);
  const video = document.createElement("video");
  video.playsInline = true;
  video.muted = !joined; // autoplay needs muted until the user clicked
  video.setAttribute("aria-label", `Participant #${id.toString(36)}`);
  const caption = document.createElement("figcaption");
  fig.append(video, caption);
  $("tiles").append(fig);
  p = { id, fig, video, caption, ms: null, sb: null, queue: [], seg: -1, next: 0, format: -1, broken: true, chunks: 0, bytes: 0, last: 0 };
  video.addEventListener("error", () => { p.broken = true; p.seg = -1; });
  video.addEventListener("loadeddata", () => video.play().catch(() => {}));
  peers.set(id, p);
  return p;
}

function removePeer(p) {
  peers.delete(p.id);
  p.video.removeAttribute("src");
  p.video.load();
  p.fig.remove();
}

// resetMedia gives the peer a fresh MediaSource, for a recording that
// starts now.
function resetMedia(p, format) {
  p.ms = new MediaSource();
  p.sb = null;
  p.queue = [];
  p.format = format;
  p.broken = false;
  const url = URL.createObjectURL(p.ms);
  p.video.src = url;
  const ms = p.ms;
  ms.addEventListener("sourceopen", () => {
    URL.revokeObjectURL(url);
    if (p.ms !== ms) return;
    try {
      const sb = ms.addSourceBuffer(FORMATS[format]);
      sb.mode = "sequence"; // recordings follow each other, whatever their timestamps
      sb.addEventListener("updateend", () => { keepLive(p); pump(p); });
      sb.addEventListener("error", () => { p.broken = true; p.seg = -1; });
      p.sb = sb;
      pump(p);
    } catch (err) {
      console.warn("duet voice: cannot play this format:", err);
      p.broken = true;
    }
  }, { once: true });
}

function pump(p) {
  if (!p.sb || p.sb.updating || !p.queue.length || p.broken) return;
  try {
    p.sb.appendBuffer(p.queue.shift());
  } catch (err) {
    // QuotaExceeded or a detached buffer: start over at the next recording.
    p.broken = true;
    p.seg = -1;
  }
}

// keepLive keeps playback near the newest data and the buffer bounded.
function keepLive(p) {
  const b = p.sb.buffered;
  if (!b.length) return;
  const end = b.end(b.length - 1);
  if (p.video.currentTime < end - 1.5) p.video.currentTime = Math.max(b.start(b.length - 1), end - 0.3);
  if (end - b.start(0) > 20 && !p.sb.updating) p.sb.remove(0, end - 10);
}

function onMessage(msg) {
  if (msg.event === "leave") {
    const p = peers.get(msg.data?.id);
    if (p) removePeer(p);
    return;
  }
  if (!msg.binary || msg.event !== "chunk") return;
  const b = msg.data;
  if (b.length < HEADER || b[0] !== VERSION) return;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const id = v.getUint32(1, true), seg = v.getUint16(5, true), seq = v.getUint16(7, true), format = b[9];
  if (id === me || !FORMATS[format]) return;
  stats.chunksReceived++;
  stats.bytesReceived += b.length;
  const p = peerFor(id);
  if (!p) return; // the room is full for this page
  p.chunks++;
  p.bytes += b.length;
  p.last = performance.now();
  p.fig.dataset.chunks = String(p.chunks);
  p.caption.textContent = `#${id.toString(36)} · ${p.chunks} chunks · ${Math.round(p.bytes / 1024)} KiB`;
  if (seq === 0 && seg !== p.seg) {
    p.seg = seg;
    p.next = 0;
    if (p.broken || format !== p.format) resetMedia(p, format);
  }
  if (seg !== p.seg || seq !== p.next) {
    // A chunk missing or out of place: the WebM stream cannot go on; wait
    // for the next recording.
    if (seg === p.seg) p.seg = -1;
    return;
  }
  p.next++;
  p.queue.push(b.subarray(HEADER));
  pump(p);
}

async function main() {
  const connStatus = statusLine();
  const Duet = await loadDuet(connStatus);
  conn = Duet.connect("/");
  conn.on("state", (state, wire) => {
    $("voice-wire").textContent = wire || "–";
    root.dataset.state = state;
    if (!joined) status(state === "open" ? `Connected over ${wire}. Join to send; you receive the others already.` : `Connection ${state}…`);
  });
  showConnection(conn, connStatus, "Room connection");
  conn.subscribe(channel, onMessage);
  const canRecord = typeof MediaRecorder === "function" && navigator.mediaDevices?.getUserMedia;
  if (!canRecord) status("This browser cannot record: you can watch and listen only.");
  $("voice-join").disabled = !canRecord;
  $("voice-join").addEventListener("click", join);
  $("voice-leave").addEventListener("click", leave);
  setInterval(() => {
    showStats();
    const now = performance.now();
    for (const p of peers.values()) if (now - p.last > PEER_STALE_MS) removePeer(p);
  }, 250);
  addEventListener("pagehide", () => { if (joined) conn.publish(channel, { id: me }, { event: "leave" }).catch(() => {}); });
}

main().catch((err) => {
  status("Cannot start: " + err.message);
  console.warn(err);
});
