// The unified transport shared by the tabs of one origin: one tab holds the
// connection (Web Locks), the others go through it (BroadcastChannel). On
// HTTP/1.1 that lifts the browser's limit of 6 connections per origin, which
// stalls the 7th tab that uses native EventSource; and when the leading tab
// closes, another takes over without losing or repeating a message. Each
// test runs a bin/duet of its own, so it can count its connections.
import { test, expect } from './fixtures';
import type { Page } from '@playwright/test';

// --- helpers: ./transport-helpers.ts -------------------------------------

import { DuetServer, sleep, boot, rec, connProp, waitOpen, received, expectEvery } from './transport-helpers';
import { overHTTPS } from './tls';

// --- tests -----------------------------------------------------------------

test('10 tabs on HTTP/1.1 get every message over one connection, where 10 native EventSources stall after 6', async ({
  page,
  browser,
}, testInfo) => {
  // HTTP/2 has no six-connection stall: http2.spec.ts shows 100 native
  // EventSources in one tab there.
  test.skip(overHTTPS(testInfo), 'an HTTP/1.1 test');
  test.setTimeout(300_000); // ten page loads of the .wasm and seven more pages, on a small machine
  const server = await DuetServer.start();
  try {
    // Duet, shared: ten tabs, one SSE connection (SSE holds one of the
    // browser's six HTTP/1.1 sockets per origin; WebSocket would not).
    const tabs = [page];
    for (let i = 1; i < 10; i++) tabs.push(await page.context().newPage());
    // One at a time: compiling the .wasm in ten renderers at once is slower
    // on a small machine than in turn.
    for (const tab of tabs) await boot(tab, server.base, { transport: 'sse', channels: ['t'] });
    for (const tab of tabs) await waitOpen(tab, 'sse');
    const leaders = await Promise.all(tabs.map((t) => connProp(t, 'leader')));
    expect(leaders.filter(Boolean).length).toBe(1);
    expect(await Promise.all(tabs.map((t) => connProp(t, 'shared')))).toEqual(Array(10).fill(true));
    await expect.poll(() => server.metric('duet_connections{wire="sse"}')).toBe(1);
    expect(await server.metric('duet_connections{wire="ws"}')).toBe(0);

    // Published from outside, and by a tab that follows (through the
    // leading tab, ack relayed back).
    const follower = tabs[leaders.findIndex((l) => !l)];
    const ids: string[] = [];
    for (let n = 0; n < 30; n++) {
      ids.push(
        n % 3 === 0
          ? await follower.evaluate((n) => (window as any).conn.publish('t', { n }).then((r: any) => r.id), n)
          : await server.publish('t', { n }),
      );
    }
    for (const tab of tabs) {
      const msgs = await received(tab, 30);
      expect(msgs.map((m) => m.id)).toEqual(ids);
    }
    expect(await server.metric('duet_connections_total{wire="sse"}')).toBe(1);

    // Native EventSource, one per tab: the 7th tab cannot even load.
    const native = await browser.newContext();
    try {
      const pages: Page[] = [];
      for (let i = 0; i < 6; i++) {
        const p = await native.newPage();
        pages.push(p);
        await p.goto(`${server.base}/rt/healthz`);
        await p.evaluate(
          () =>
            new Promise<void>((resolve, reject) => {
              const es = new EventSource('/rt/sse?channel=t');
              (window as any).got = [];
              es.onmessage = (e) => (window as any).got.push(JSON.parse(e.data).id);
              es.onopen = () => resolve();
              setTimeout(() => reject(new Error('EventSource did not open within 5s')), 5000);
            }),
        );
      }
      const seventh = await native.newPage();
      const loaded = await seventh
        .goto(`${server.base}/rt/healthz`, { timeout: 3000 })
        .then(() => 'loaded', (e: Error) => e.name);
      expect(loaded, 'the 7th tab waits for one of the 6 sockets, held by EventSources').toBe('TimeoutError');
      // The six still work.
      const id = await server.publish('t', { native: true });
      for (const p of pages) await expect.poll(() => p.evaluate(() => (window as any).got)).toEqual([id]);
    } finally {
      await native.close();
    }
  } finally {
    await server.stopAfter(page);
  }
});

test('the leading tab closes: another takes over and resumes, and no tab misses or repeats a message', async ({
  page,
}) => {
  test.setTimeout(180_000);
  const server = await DuetServer.start();
  try {
    const tabs = [page];
    for (let i = 1; i < 4; i++) tabs.push(await page.context().newPage());
    for (const tab of tabs) {
      await boot(tab, server.base, { transport: 'auto', channels: ['l'], backoff: { initialMs: 100, maxMs: 400 } });
    }
    for (const tab of tabs) await waitOpen(tab, 'websocket');
    await expect.poll(() => server.metric('duet_connections{wire="ws"}')).toBe(1);

    // A steady stream while leaders come and go.
    let stop = false;
    const ids: string[] = [];
    const publisher = (async () => {
      for (let n = 0; !stop; n++) {
        ids.push(await server.publish('l', { n }));
        await sleep(25);
      }
    })();

    const live = [...tabs];
    for (let round = 0; round < 2; round++) {
      await sleep(500);
      const leader = await leaderOf(live);
      live.splice(live.indexOf(leader), 1);
      await leader.close(); // pagehide: the tab says goodbye and drops the lock
      // Another tab takes the lock and opens the connection.
      await expect.poll(async () => (await Promise.all(live.map((t) => connProp(t, 'leader')))).filter(Boolean).length, {
        timeout: 10_000,
      }).toBe(1);
      for (const tab of live) await waitOpen(tab, 'websocket');
    }
    await sleep(500);
    stop = true;
    await publisher;

    await expectEvery(live, ids);
    await expect.poll(() => server.metric('duet_connections{wire="ws"}')).toBe(1);
    expect(await server.metric('duet_connections_total{wire="ws"}')).toBe(3);
  } finally {
    await server.stopAfter(page);
  }
});

async function leaderOf(tabs: Page[]): Promise<Page> {
  for (const t of tabs) if (await connProp(t, 'leader')) return t;
  throw new Error('no tab leads');
}
