// Presence (PROTOCOL.md §9) in the browser, on both wires: two browser
// contexts (two connections) see each other in conn.presence, hear each
// other join, and closing one page makes it leave the other's presence
// within a few seconds; then the demo's chat room list and the game's
// player list, both fed by presence.
import { test, expect } from './fixtures';
import type { Page } from '@playwright/test';
import { boot, waitOpen, connProp, DuetServer } from './transport-helpers';

/** Records the page's join and leave events in window.presenceEvents. */
async function listen(page: Page) {
  await page.evaluate(() => {
    const w = window as any;
    w.presenceEvents = [];
    w.conn.on('join', (e: any) => w.presenceEvents.push(`join ${e.channel} ${e.client}`));
    w.conn.on('leave', (e: any) => w.presenceEvents.push(`leave ${e.channel} ${e.client}`));
  });
}

// A refused GET /rt/presence (on SSE) is logged by the browser.
test.use({ allowedConsoleErrors: [/status of 400 \(Bad Request\) \(http:\/\/[^)]*\/rt\/presence\?channel=nopresence/] });

const events = (page: Page): Promise<string[]> => page.evaluate(() => (window as any).presenceEvents);
const presence = (page: Page, channel: string) => page.evaluate((c) => (window as any).conn.presence(c), channel);
const clientsOf = async (page: Page, channel: string) =>
  ((await presence(page, channel)).clients as { client: string }[]).map((e) => e.client).sort();

for (const wire of ['websocket', 'sse'] as const) {
  test(`${wire}: two connections see each other in presence, join and leave`, async ({ page, browser, baseURL }) => {
    const channel = `chat:presence-${wire}-${Math.random().toString(36).slice(2, 8)}`;
    await boot(page, baseURL!, { transport: wire, shared: false, channels: [channel], info: { nick: 'ann' } });
    await waitOpen(page, wire);
    await listen(page);
    const a = await connProp(page, 'clientId');
    expect(a).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(await clientsOf(page, channel)).toEqual([a]);

    const other = await browser.newContext();
    try {
      const pageB = await other.newPage();
      await boot(pageB, baseURL!, { transport: wire, shared: false, channels: [channel], info: { nick: 'bob' } });
      await waitOpen(pageB, wire);
      const b = await connProp(pageB, 'clientId');
      await expect.poll(() => events(page), { timeout: 10_000 }).toContain(`join ${channel} ${b}`);
      expect(await clientsOf(page, channel)).toEqual([a, b].sort());
      const p = await presence(pageB, channel);
      expect(p.count).toBe(2);
      expect(p.users).toBe(0); // anonymous
      expect(p.clients.find((e: any) => e.client === b).info).toEqual({ nick: 'bob' });
      const stats = await pageB.evaluate((c) => (window as any).conn.presenceStats(c), channel);
      expect(stats).toEqual({ channel, count: 2, users: 0 });

      // Closing the page ends its connection: it leaves at once.
      const closed = Date.now();
      await pageB.close();
      await expect.poll(() => events(page), { timeout: 5_000 }).toContain(`leave ${channel} ${b}`);
      console.log(`${wire}: leave seen ${Date.now() - closed} ms after the page closed`);
      expect(await clientsOf(page, channel)).toEqual([a]);
    } finally {
      await other.close();
    }
    // A channel without presence is refused with 4422.
    const refused = await page.evaluate(() => (window as any).conn.presence('nopresence:0').then(() => 0, (e: any) => e.code));
    expect(refused).toBe(4422);
  });
}

test('a tab riding on another tab\'s connection reads presence and hears joins', async ({ page, baseURL, browser }) => {
  const channel = `chat:tabs-${Math.random().toString(36).slice(2, 8)}`;
  await boot(page, baseURL!, { channels: [channel] });
  await waitOpen(page);
  const follower = await page.context().newPage();
  await boot(follower, baseURL!, { channels: [channel] });
  await waitOpen(follower);
  await listen(follower);
  expect(await connProp(follower, 'leader')).toBe(false);
  const shared = await connProp(page, 'clientId');
  expect(await connProp(follower, 'clientId')).toBe(shared); // one connection, one client
  expect(await clientsOf(follower, channel)).toEqual([shared]);

  const other = await browser.newContext();
  try {
    const pageB = await other.newPage();
    await boot(pageB, baseURL!, { channels: [channel] });
    await waitOpen(pageB);
    const b = await connProp(pageB, 'clientId');
    await expect.poll(() => events(follower), { timeout: 10_000 }).toContain(`join ${channel} ${b}`);
    await pageB.close();
    await expect.poll(() => events(follower), { timeout: 5_000 }).toContain(`leave ${channel} ${b}`);
  } finally {
    await other.close();
  }
});

test.setTimeout(60_000);

test('the chat lists who is in the room with join and leave lines', async ({ page, browser }) => {
  const room = 'lobby';
  await page.goto(`/chat?room=${room}`);
  const count = page.getByTestId('who-count');
  await expect(count).toHaveText(/^\d+$/, { timeout: 20_000 });
  const before = Number(await count.textContent());
  const other = await browser.newContext();
  try {
    const bob = await other.newPage();
    await bob.goto(`/chat?room=${room}`);
    await expect(bob.getByTestId('who-count')).toHaveText(String(before + 1), { timeout: 20_000 });
    await expect(count).toHaveText(String(before + 1));
    await expect(page.getByTestId('presence-line').filter({ hasText: 'joined' })).toHaveCount(1);
    const closed = Date.now();
    await bob.close();
    await expect(count).toHaveText(String(before), { timeout: 25_000 });
    console.log(`chat: leave seen ${Date.now() - closed} ms after the page closed`);
    await expect(page.getByTestId('presence-line').filter({ hasText: 'left' })).toHaveCount(1);
  } finally {
    await other.close();
  }
});

// The count is site-wide: on the shared server, the other worker's home
// pages would come and go in it. This test has a server of its own, so the
// count is exact: 1, then 2 with a second page, then 1 again.
test('the home page counts the pages connected', async ({ page, browser }) => {
  const server = await DuetServer.start();
  const other = await browser.newContext();
  try {
    await page.goto(`${server.base}/`);
    const pages = page.getByTestId('pages-connected');
    await expect(pages).toHaveText('1', { timeout: 20_000 });
    const p2 = await other.newPage();
    await p2.goto(`${server.base}/`);
    await expect(p2.getByTestId('pages-connected')).toHaveText('2', { timeout: 20_000 });
    await expect(pages).toHaveText('2', { timeout: 10_000 });
    const closed = Date.now();
    await p2.close();
    await expect(pages).toHaveText('1', { timeout: 25_000 });
    console.log(`home: count back ${Date.now() - closed} ms after the page closed`);
  } finally {
    await other.close();
    await server.stopAfter(page);
  }
});
