// Shared-tab mode without holes: a page restored from the back/forward
// cache resumes; a leading tab that dies without a goodbye is replaced by a
// follower that resumes from the last id every tab saw; tabs share only
// with tabs whose per-tab options can ride the same connection. Each test
// runs a bin/duet of its own.
import { test, expect } from './fixtures';
import type { Page } from '@playwright/test';
import { DuetServer, boot, sleep, rec, connProp, waitOpen, received, expectEvery } from './transport-helpers';

// The back/forward cache test's pages are not /rt/healthz (no-store keeps
// a page out of the cache) and have no icon.
test.use({ allowedConsoleErrors: [[/favicon\.ico/, /Failed to load resource.*404/], { scope: 'test' }] });

for (const transport of ['websocket', 'sse']) {
  test(`a page restored from the back/forward cache resumes with no gap (${transport})`, async ({ playwright, launchOptions }) => {
    test.setTimeout(120_000);
    // Playwright turns the back/forward cache off by default.
    const browser = await playwright.chromium.launch({ ...launchOptions, ignoreDefaultArgs: ['--disable-back-forward-cache'] });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && !/favicon/.test(m.text()) && errors.push(m.text()));
    const server = await DuetServer.start();
    try {
      // Pages the cache may keep: /rt/healthz is no-store.
      await boot(page, server.base, { transport, channels: ['b'] }, '/static/duet.d.ts');
      await waitOpen(page, transport);
      const ids = [await server.publish('b', 1)];
      await received(page, 1);

      await page.goto(server.base + '/static/duet.css');
      for (let n = 2; n <= 4; n++) ids.push(await server.publish('b', n));
      await page.goBack({ waitUntil: 'commit' }); // a page restored from the cache fires no load event
      // The very page came back (its state is still there), from the cache.
      await expect.poll(() => page.evaluate(() => (window as any).shows?.length ?? -1)).not.toBe(0);
      const nav = () => page.evaluate(() => JSON.stringify((performance.getEntriesByType('navigation')[0] as any)?.notRestoredReasons));
      expect(await page.evaluate(() => (window as any).shows), `not restored from the cache: ${await nav()}`).toEqual([true]);
      await waitOpen(page, transport);
      ids.push(await server.publish('b', 5));
      const msgs = await received(page, 5);
      expect(msgs.map((m) => m.id)).toEqual(ids);
      expect((await rec(page)).gaps).toEqual([]);
      expect(await connProp(page, 'state')).toBe('open');
      expect(errors).toEqual([]);
    } finally {
      await server.stop();
      await browser.close();
    }
  });
}

async function leaderOf(tabs: Page[]): Promise<Page> {
  const flags = await Promise.all(tabs.map((t) => connProp(t, 'leader')));
  expect(flags.filter(Boolean).length, 'one leader').toBe(1);
  return tabs[flags.indexOf(true)];
}

for (const how of ['renderer killed', 'closed without unload handlers'] as const) {
  test(`the leading tab dies without a goodbye (${how}): a follower takes over and nothing is lost`, async ({ page }) => {
    test.setTimeout(180_000);
    // The crashed page's renderer logs nothing; the others may log the lost socket.
    const server = await DuetServer.start();
    try {
      const tabs = [page];
      for (let i = 1; i < 3; i++) tabs.push(await page.context().newPage());
      for (const tab of tabs) await boot(tab, server.base, { transport: 'auto', channels: ['k'], backoff: { initialMs: 100, maxMs: 400 } });
      for (const tab of tabs) await waitOpen(tab, 'websocket');

      let stop = false;
      const ids: string[] = [];
      const publisher = (async () => {
        for (let n = 0; !stop; n++) {
          ids.push(await server.publish('k', { n }));
          await sleep(25);
        }
      })();
      await sleep(500);
      const leader = await leaderOf(tabs);
      const live = tabs.filter((t) => t !== leader);
      const t0 = Date.now();
      if (how === 'renderer killed') {
        const cdp = await leader.context().newCDPSession(leader);
        void cdp.send('Page.crash').catch(() => {}); // never answered: the renderer is gone
        await new Promise<void>((resolve) => leader.once('crash', () => resolve()));
      } else {
        await leader.close({ runBeforeUnload: false });
      }
      await expect.poll(async () => (await Promise.all(live.map((t) => connProp(t, 'leader')))).filter(Boolean).length, {
        timeout: 15_000,
      }).toBe(1);
      for (const tab of live) await waitOpen(tab, 'websocket');
      const takeoverMs = Date.now() - t0;
      await sleep(500);
      stop = true;
      await publisher;

      await expectEvery(live, ids);
      test.info().annotations.push({ type: 'takeover ms', description: String(takeoverMs) });
      console.log(`${how}: a follower led and was open again ${takeoverMs} ms after the leader died`);
    } finally {
      await server.stopAfter(page);
    }
  });
}

test('tabs share a connection only with tabs of the same transport and sharing group', async ({ page }) => {
  test.setTimeout(180_000);
  const server = await DuetServer.start();
  const tabs = [page];
  try {
    for (let i = 1; i < 4; i++) tabs.push(await page.context().newPage());
    const options = [
      { transport: 'websocket', channels: ['g'] },
      { transport: 'websocket', channels: ['g'] }, // shares with the first
      { transport: 'sse', channels: ['g'] }, // another wire: its own connection
      { transport: 'websocket', channels: ['g'], shared: 'another-user' }, // another group: its own
    ];
    for (let i = 0; i < tabs.length; i++) await boot(tabs[i], server.base, options[i]);
    for (let i = 0; i < tabs.length; i++) await waitOpen(tabs[i], options[i].transport);
    const leaders = await Promise.all(tabs.map((t) => connProp(t, 'leader')));
    expect(leaders[0] !== leaders[1], 'one of the first two leads').toBe(true);
    expect(leaders.slice(2)).toEqual([true, true]);
    expect(await Promise.all(tabs.map((t) => connProp(t, 'shared')))).toEqual([true, true, true, true]);
    await expect.poll(() => server.metric('duet_connections{wire="ws"}')).toBe(2);
    expect(await server.metric('duet_connections{wire="sse"}')).toBe(1);
    const id = await server.publish('g', 'x');
    for (const tab of tabs) expect((await received(tab, 1)).map((m) => m.id)).toEqual([id]);
    // A group name is bounded.
    const err = await page.evaluate(async () => {
      const Duet = await (await import('/duet.js' as string)).loadDuet();
      try {
        Duet.connect('', { shared: 'x'.repeat(129) });
        return 'accepted';
      } catch (e) {
        return `${(e as Error).name}: ${(e as Error).message}`;
      }
    });
    expect(err).toBe('TypeError: duet/transport: shared: a group name is at most 128 bytes');
  } finally {
    await server.stopAfter(...tabs);
  }
});
