// A node that lost NATS must not look dead to a browser's native
// EventSource: a resume during the outage is answered 200 with a retry field
// and a duet.close (4003), never a status the EventSource takes as fatal, so
// it keeps trying on its own and gets the missed messages once NATS is back.
// The test runs its own NATS (server/natsbroker/cmd/nats-outage, which it
// builds) and its own bin/duet over it.
import { test, expect } from './fixtures';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { DuetServer, sleep } from './transport-helpers';

const root = path.resolve(__dirname, '..', '..');
const helperBin = path.join(root, 'bin', 'nats-outage');

/** Starts the NATS helper; resolves with its client URL and control URL. */
async function startNATS(): Promise<{ proc: ChildProcess; url: string; control: string }> {
  execFileSync('go', ['build', '-o', helperBin, './server/natsbroker/cmd/nats-outage'], {
    cwd: root,
    stdio: 'inherit',
    timeout: 180_000,
  });
  // stdin stays open: the helper exits when it closes (with this runner).
  const proc = spawn(helperBin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('nats-outage did not start within 20s')), 20_000);
    let out = '';
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(out.split('\n')[0]);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-outage exited with ${code}`));
    });
  });
  const m = /^nats (\S+) control (\S+)$/.exec(line);
  if (!m) throw new Error(`nats-outage said ${JSON.stringify(line)}`);
  return { proc, url: m[1], control: m[2] };
}

async function healthz(base: string): Promise<number> {
  return fetch(`${base}/rt/healthz`).then((r) => r.status, () => 0);
}

test('a native EventSource resumes across a NATS outage', async ({ page }) => {
  test.setTimeout(300_000);
  const nats = await startNATS();
  let duet: DuetServer | undefined;
  try {
    duet = await DuetServer.start(0, ['-nats', nats.url]);
    const first = await duet.publish('outage', { n: 1 });
    const missed = await duet.publish('outage', { n: 2 });

    await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204 }));
    await page.goto(`${duet.base}/rt/healthz`);

    await fetch(`${nats.control}/stop`, { method: 'POST' });
    await expect.poll(() => healthz(duet!.base), { timeout: 30_000, message: 'the node notices the outage' }).toBe(503);

    // A plain EventSource, no Duet code: it resumes from the first message.
    await page.evaluate((first) => {
      const w = window as any;
      w.got = [];
      w.closes = 0;
      w.es = new EventSource(`/rt/sse?channel=outage&lastEventId=${encodeURIComponent(first)}`);
      w.es.onmessage = (e: MessageEvent) => w.got.push(e.lastEventId);
      w.es.addEventListener('duet.close', (e: MessageEvent) => {
        w.closes++;
        w.lastClose = JSON.parse(e.data).code;
      });
    }, first);
    // Each attempt is told "retry later": the EventSource keeps trying.
    await expect
      .poll(() => page.evaluate(() => (window as any).closes), { timeout: 30_000, message: 'retries during the outage' })
      .toBeGreaterThanOrEqual(2);
    expect(await page.evaluate(() => (window as any).lastClose), 'code').toBe(4003);
    expect(await page.evaluate(() => (window as any).es.readyState), 'not closed for good').not.toBe(2);

    await fetch(`${nats.control}/start`, { method: 'POST' });
    await expect
      .poll(() => page.evaluate(() => (window as any).got), { timeout: 60_000, message: 'the missed message after the outage' })
      .toEqual([missed]);
    await sleep(200);
    expect(await page.evaluate(() => (window as any).es.readyState), 'open').toBe(1);
  } finally {
    await duet?.stop();
    nats.proc.stdin!.end();
    nats.proc.kill('SIGTERM');
  }
});
