// Authentication in the browser: a page connects with a token function,
// the server closes each connection when its token expires (4401), and the
// client gets a fresh token, reconnects and resumes, on either wire,
// losing nothing.
//
// The server is a bin/duet of the test's own, requiring HS256 JWTs and
// serving short-lived ones at /dev/token (-dev-tokens, a test-only flag).
import { test, expect } from './fixtures';
import type { Page } from '@playwright/test';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DuetServer, sleep, type Msg, type Rec } from './transport-helpers';

const tokenTTL = '2s';

/** A bin/duet requiring JWTs, with a token endpoint for tests. */
class AuthServer {
  constructor(readonly srv: DuetServer, readonly dir: string) {}

  static async start(ttl = tokenTTL): Promise<AuthServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'duet-auth-'));
    const secret = path.join(dir, 'secret');
    fs.writeFileSync(secret, crypto.randomBytes(48).toString('base64'), { mode: 0o600 });
    const srv = await DuetServer.start(0, [
      '-jwt-hs256-secret-file', secret, '-jwt-aud', 'duet-e2e', '-jwt-leeway', '0', '-dev-tokens', ttl,
      // The dev tokens carry no permission claims, and bin/duet grants
      // such tokens no channels unless told to.
      '-jwt-subscribe', 'user:{sub}', '-jwt-publish', 'user:*',
    ]);
    return new AuthServer(srv, dir);
  }

  get base() {
    return this.srv.base;
  }

  async stop() {
    await this.srv.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  async token(sub = 'publisher'): Promise<string> {
    return (await fetch(`${this.base}/dev/token?sub=${sub}`)).text();
  }

  /** Publishes with a fresh token; returns the id. */
  async publish(channel: string, data: unknown): Promise<string> {
    const res = await fetch(`${this.base}/rt/publish`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${await this.token()}` },
      body: JSON.stringify({ channel, data }),
    });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`publish: ${res.status} ${body}`);
    return JSON.parse(body).id;
  }

  metric(sample: string): Promise<number> {
    return this.srv.metric(sample);
  }
}

/** Connects the page with a token function that fetches /dev/token. */
async function bootWithToken(page: Page, base: string, transport: string, lastEventId: string) {
  await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204 }));
  await page.goto(`${base}/rt/healthz`);
  await page.evaluate(async ([transport, lastEventId]) => {
    const w = window as any;
    const Duet = await (await import('/duet.js' as string)).loadDuet();
    const rec: Rec & { tokens: number } = { msgs: [], gaps: [], states: [], errors: [], tokens: 0 };
    const conn = Duet.connect('', {
      transport,
      channels: ['user:alice'],
      lastEventId,
      backoff: { initialMs: 50, maxMs: 200 },
      token: async () => {
        rec.tokens++;
        return (await fetch('/dev/token?sub=alice')).text();
      },
    });
    conn.on('message', (m: Msg) => rec.msgs.push(m));
    conn.on('gap', (g: any) => rec.gaps.push({ ...g, at: rec.msgs.length }));
    conn.on('state', (s: string, t: string) => rec.states.push(`${s} ${t}`));
    conn.on('error', (e: any) => rec.errors.push(`${e.code} ${e.message}`));
    w.conn = conn;
    w.rec = rec;
  }, [transport, lastEventId]);
}

const pageRec = (page: Page): Promise<Rec & { tokens: number }> => page.evaluate(() => (window as any).rec);

for (const transport of ['websocket', 'sse']) {
  test(`a token function survives expiries on ${transport} and loses nothing`, async ({ page }) => {
    test.setTimeout(60_000);
    const srv = await AuthServer.start();
    try {
      // Without a token the server refuses.
      const refused = await fetch(`${srv.base}/rt/sse?channel=user:alice`);
      expect(refused.status).toBe(401);

      // Resume from an id from the start: "open" comes with the server's
      // hello, maybe before the subscription is in place, and a live-only
      // start could miss the first message.
      const startId = await srv.publish('user:alice', 'start');
      await bootWithToken(page, srv.base, transport, startId);
      await expect.poll(() => page.evaluate(() => (window as any).conn.state), { timeout: 10_000 }).toBe('open');
      expect(await page.evaluate(() => (window as any).conn.transport)).toBe(transport);

      // Publish for five seconds: tokens live at most two, so the
      // connection is closed with 4401 at least twice meanwhile.
      const ids: string[] = [];
      const start = Date.now();
      while (Date.now() - start < 5_000) {
        ids.push(await srv.publish('user:alice', { n: ids.length }));
        await sleep(40);
      }
      await expect.poll(async () => (await pageRec(page)).msgs.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(ids.length);
      const rec = await pageRec(page);
      expect(rec.msgs.map((m) => m.id)).toEqual(ids);
      expect(rec.msgs.map((m) => m.data.n)).toEqual(ids.map((_, i) => i));
      expect(rec.gaps).toEqual([]);
      expect(rec.errors).toEqual([]);
      // At least two expiries, each followed by a connection with a fresh
      // token (expiries go on meanwhile: poll, as the counts move).
      expect(await srv.metric('duet_credential_expiries_total')).toBeGreaterThanOrEqual(2);
      await expect.poll(async () => (await pageRec(page)).tokens, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
      expect(rec.states.filter((s) => s.startsWith('reconnecting')).length).toBeGreaterThanOrEqual(2);
      await expect.poll(() => page.evaluate(() => (window as any).conn.state), { timeout: 10_000 }).toBe('open');

      // Publishing from the page uses the token too.
      const id = await page.evaluate(async () => (await (window as any).conn.publish('user:alice', 'from the page')).id);
      expect(id).toMatch(/^\d+-\d+$/);
    } finally {
      await page.evaluate(() => (window as any).conn?.close()).catch(() => {});
      await srv.stop();
    }
  });
}

// Session cookies are named with the __Host- prefix (Secure, Path=/, no
// Domain). Browsers accept Secure cookies from http://localhost and
// http://127.0.0.1, so development over plain HTTP on this machine still
// works: a native EventSource, with no Duet code, is authenticated by it.
for (const host of ['127.0.0.1', 'localhost']) {
  test(`a __Host- session cookie works over plain http on ${host}`, async ({ page }) => {
    const srv = await AuthServer.start('60s');
    try {
      const base = srv.base.replace('127.0.0.1', host);
      await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204 }));
      await page.goto(`${base}/rt/healthz`);
      const name = await page.evaluate(async () => (await fetch('/dev/session?sub=alice')).text());
      expect(name).toBe('__Host-duet_session');
      const cookies = await page.context().cookies(base);
      const c = cookies.find((c) => c.name === name);
      expect(c, `the browser kept the cookie (it has ${cookies.map((c) => c.name).join(', ') || 'none'})`).toBeTruthy();
      expect(c!.secure).toBe(true);
      expect(c!.path).toBe('/');
      expect(c!.httpOnly).toBe(true);

      await page.evaluate(() => {
        const w = window as any;
        w.got = [];
        w.es = new EventSource('/rt/sse?channel=user:alice');
        w.es.onopen = () => (w.opened = true);
        w.es.addEventListener('message', (e: MessageEvent) => w.got.push(JSON.parse(e.data).data));
      });
      await expect.poll(() => page.evaluate(() => (window as any).opened === true), { timeout: 10_000 }).toBe(true);
      await srv.publish('user:alice', 'over the cookie');
      await expect.poll(() => page.evaluate(() => (window as any).got), { timeout: 10_000 }).toEqual(['over the cookie']);
    } finally {
      await page.evaluate(() => (window as any).es?.close()).catch(() => {});
      await srv.stop();
    }
  });
}
