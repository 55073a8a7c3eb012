// One Duet "tab" of the lab: a frame whose connection is shared with the
// other frames (and tabs) of the origin.
const body = document.body;
const out = document.querySelector('[data-testid="tab-status"]');
const n = body.dataset.n;
const channel = body.dataset.channel;
let count = 0;
try {
  const Duet = await (await import("/duet.js")).loadDuet();
  const conn = Duet.connect("", { channels: [channel] });
  const render = () => {
    out.textContent = `tab ${n}: ${conn.state}${conn.transport ? " over " + conn.transport : ""}, ${conn.leader ? "leader (holds the connection)" : "follower"}, ${count} messages`;
    body.dataset.leader = String(conn.leader);
  };
  conn.on("message", (m) => {
    if (m.channel === channel) count++;
  });
  conn.on("state", render);
  setInterval(render, 500);
  render();
} catch (err) {
  out.textContent = `tab ${n}: the Duet client did not load: ${err.message}`;
}
