// Helpers of the transport specs: a bin/duet of the test's own (started on a
// free loopback port, so a test can kill and restart it and count its
// connections), and a page booted with Duet.connect that records what it
// hears.
import { test, expect } from './fixtures';
import { certFile, keyFile, overHTTPS } from './tls';
import type { Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';

export const serverBin = path.resolve(__dirname, '..', process.env.DUET_BIN || '../bin/duet');

/** A bin/duet process of the test's own. */
export class DuetServer {
  proc: ChildProcess | undefined;
  port = 0;
  log: string[] = [];
  /** Extra command-line flags of bin/duet. */
  args: string[] = [];
  /** HTTPS with HTTP/2, in the https project. */
  tls = false;

  static async start(port = 0, args: string[] = []): Promise<DuetServer> {
    const s = new DuetServer();
    s.args = args;
    s.tls = overHTTPS(test.info());
    await s.spawn(port);
    return s;
  }

  get base() {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  private async spawn(port: number) {
    // A 1s heartbeat makes the client's watchdog (2.5 heartbeats) quick.
    const tls = this.tls ? ['-tls-cert', certFile, '-tls-key', keyFile] : [];
    const proc = spawn(serverBin, ['-addr', `127.0.0.1:${port}`, '-heartbeat', '1s', '-write-timeout', '5s', ...tls, ...this.args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.proc = proc;
    this.port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('bin/duet did not start within 10s:\n' + this.log.join(''))), 10_000);
      proc.stderr!.on('data', (b: Buffer) => {
        this.log.push(b.toString());
        const m = /url=https?:\/\/127\.0\.0\.1:(\d+)\//.exec(this.log.join(''));
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`bin/duet exited with ${code}:\n` + this.log.join('')));
      });
    });
    for (let i = 0; ; i++) {
      const ok = await fetch(`${this.base}/rt/healthz`).then((r) => r.ok, () => false);
      if (ok) return;
      if (i > 100) throw new Error('bin/duet not healthy');
      await sleep(50);
    }
  }

  /** Stops the process with signal and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM') {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    await Promise.race([exited, sleep(10_000)]);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }

  /**
   * Ends a test's use of the server: pages leave it first (for about:blank),
   * then it stops. A server stopped under a connected page makes the page's
   * reconnections log refused connections, and the test's page console is
   * checked for errors.
   */
  async stopAfter(...pages: Page[]) {
    for (const p of pages) await p.goto('about:blank').catch(() => {}); // a closed or crashed page has nothing to leave
    await this.stop();
  }

  /** Starts the server again on the same port (a new epoch, no history). */
  async restart() {
    await this.spawn(this.port);
  }

  /** Publishes from outside the browser; returns the id, or throws. */
  async publish(channel: string, data: unknown, event?: string): Promise<string> {
    const res = await fetch(`${this.base}/rt/publish`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ channel, event, data }),
    });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`publish: ${res.status} ${body}`);
    return JSON.parse(body).id;
  }

  /** Reads a sample of /metrics, e.g. 'duet_connections{wire="sse"}'. */
  async metric(sample: string): Promise<number> {
    const text = await (await fetch(`${this.base}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(sample + ' '));
    return line ? Number(line.slice(sample.length + 1)) : NaN;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type Msg = { id: string; channel: string; event: string; data: any; ts: number };
export type Gap = { channels: string[]; lastEventId: string; id: string; reason: string; at: number };
export type Rec = { msgs: Msg[]; gaps: Gap[]; states: string[]; errors: string[] };

/**
 * Opens base's /rt/healthz (a page of the origin with no script of its
 * own), loads Duet from /duet.js and connects with options. The page keeps
 * the connection in window.conn and what it heard in window.rec.
 */
export async function boot(page: Page, base: string, options: Record<string, unknown>, path = '/rt/healthz') {
  // healthz has no icon: answer the browser's request for one, or it logs
  // a 404. Not on other pages: routing keeps a page out of the
  // back/forward cache.
  if (path === '/rt/healthz') await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204 }));
  await page.goto(`${base}${path}`);
  if (base.startsWith('https:')) {
    // The https project is about HTTP/2: the origin's requests share one connection.
    expect(await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as any).nextHopProtocol)).toBe('h2');
  }
  await page.evaluate(async (options) => {
    const w = window as any;
    const Duet = await (await import('/duet.js' as string)).loadDuet();
    const rec: Rec = { msgs: [], gaps: [], states: [], errors: [] };
    const conn = Duet.connect('', options);
    conn.on('message', (m: Msg) => rec.msgs.push(m));
    conn.on('gap', (g: Gap) => rec.gaps.push({ ...g, at: rec.msgs.length }));
    conn.on('state', (s: string, t: string) => rec.states.push(`${s} ${t}`));
    conn.on('error', (e: any) => rec.errors.push(`${e.code} ${e.message}`));
    w.conn = conn;
    w.rec = rec;
    w.shows = [] as boolean[]; // pageshow's persisted, each time
    addEventListener('pageshow', (e) => w.shows.push(e.persisted));
  }, options);
}

export const rec = (page: Page): Promise<Rec> => page.evaluate(() => (window as any).rec);
export const connProp = (page: Page, name: string): Promise<any> => page.evaluate((n) => (window as any).conn[n], name);

export async function waitOpen(page: Page, transport?: string) {
  await expect.poll(() => connProp(page, 'state'), { timeout: 10_000 }).toBe('open');
  if (transport) expect(await connProp(page, 'transport')).toBe(transport);
}

/** Waits until the page has received count messages, and returns them. */
export async function received(page: Page, count: number, timeout = 10_000): Promise<Msg[]> {
  await expect.poll(async () => (await rec(page)).msgs.length, { timeout }).toBeGreaterThanOrEqual(count);
  return (await rec(page)).msgs;
}

/** Every tab received exactly ids, in order, and no gap notice. */
export async function expectEvery(tabs: Page[], ids: string[]) {
  for (const tab of tabs) {
    const msgs = await received(tab, ids.length);
    expect(msgs.map((m) => m.id)).toEqual(ids);
    expect((await rec(tab)).gaps).toEqual([]);
  }
}

/**
 * A TCP proxy on a free loopback port in front of a server, whose network
 * can drop: cut() stops forwarding on every open connection without
 * closing it (as a lost network does: no FIN, no RST, so neither end
 * notices until its heartbeat does) and refuses new ones; restore() lets
 * new connections through again. Playwright's setOffline does not cut open
 * WebSockets, so a dropped network is played here.
 */
export class DroppingProxy {
  private server: net.Server;
  private pairs: { client: net.Socket; upstream: net.Socket }[] = [];
  private down = false;
  port = 0;

  private constructor(targetPort: number, private tls: boolean) {
    this.server = net.createServer((client) => {
      if (this.down) {
        client.destroy();
        return;
      }
      const upstream = net.connect(targetPort, '127.0.0.1');
      client.pipe(upstream);
      upstream.pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end);
      upstream.on('error', end);
      client.on('close', end);
      upstream.on('close', end);
      this.pairs.push({ client, upstream });
    });
  }

  /** tls: the server speaks TLS (the proxy only forwards bytes). */
  static async start(targetPort: number, tls = false): Promise<DroppingProxy> {
    const p = new DroppingProxy(targetPort, tls);
    await new Promise<void>((resolve) => p.server.listen(0, '127.0.0.1', resolve));
    p.port = (p.server.address() as net.AddressInfo).port;
    return p;
  }

  get base() {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  /** The network drops: open connections go silent, new ones fail. */
  cut() {
    this.down = true;
    for (const { client, upstream } of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /** The network is back for new connections (the silent ones stay dead). */
  restore() {
    this.down = false;
  }

  async stop() {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
