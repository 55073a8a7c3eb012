// The game page: two players in two browser contexts (two connections)
// see each other move; each update is a binary WebSocket frame both ways.
import { test, expect } from './fixtures';
import type { Page } from '@playwright/test';
import { watchConsole } from './console-helpers';

/** Opens the game on wire and returns this player's id once connected. */
async function play(page: Page, wire: 'websocket' | 'sse' = 'websocket'): Promise<string> {
  await page.goto(wire === 'sse' ? '/game?transport=sse' : '/game');
  await expect(page.getByTestId('game-status')).toHaveText(`Connected over ${wire}: move!`, { timeout: 20_000 });
  const id = await page.getByTestId('me').getAttribute('data-id');
  expect(id).toMatch(/^\d+$/);
  return id!;
}

const row = (page: Page, id: string) => page.locator(`[data-testid="player"][data-id="${id}"]`);
const pos = async (page: Page, id: string) => {
  const r = row(page, id);
  return { x: Number(await r.getAttribute('data-x')), y: Number(await r.getAttribute('data-y')) };
};

test('two pages see each other move, over binary WebSocket frames', async ({ page, browser }, testInfo) => {
  test.setTimeout(90_000);
  // Binary frames on page A's socket: publishes out (kind 0x01), messages in (0x02).
  const binary = { sent: 0, received: 0 };
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => { if (typeof f.payload !== 'string' && f.payload[0] === 0x01) binary.sent++; });
    ws.on('framereceived', (f) => { if (typeof f.payload !== 'string' && f.payload[0] === 0x02) binary.received++; });
  });
  const other = await browser.newContext();
  try {
    const pageB = await other.newPage();
    const errorsB = watchConsole(pageB);
    const a = await play(page);
    const b = await play(pageB);

    // Each page sends a keepalive at least once a second: both see both.
    await expect(row(page, b)).toBeVisible();
    await expect(row(pageB, a)).toBeVisible();

    // A holds the right arrow until it has moved 150 units, then lets go.
    const start = await pos(page, a);
    await page.getByTestId('arena').focus();
    await page.keyboard.down('ArrowRight');
    await expect.poll(async () => (await pos(page, a)).x, { timeout: 10_000 }).toBeGreaterThanOrEqual(start.x + 150);
    await page.keyboard.up('ArrowRight');
    // A has stopped: B ends up seeing A exactly where A sees itself.
    await expect
      .poll(async () => JSON.stringify(await pos(pageB, a)) === JSON.stringify(await pos(page, a)), { timeout: 10_000 })
      .toBe(true);
    expect((await pos(pageB, a)).x).toBeGreaterThanOrEqual(start.x + 150);

    // And the other way: B moves down with S (WASD).
    const startB = await pos(pageB, b);
    await pageB.getByTestId('arena').focus();
    await pageB.keyboard.down('s');
    await expect.poll(async () => (await pos(pageB, b)).y, { timeout: 10_000 }).toBeGreaterThanOrEqual(startB.y + 100);
    await pageB.keyboard.up('s');
    await expect.poll(async () => (await pos(page, b)).y, { timeout: 10_000 }).toBeGreaterThanOrEqual(startB.y + 100);

    // Updates were binary frames of 12 bytes plus the 11-byte name.
    await expect(pageB.getByTestId('update-bytes')).toHaveText('23');
    expect(binary.sent).toBeGreaterThan(10);
    expect(binary.received).toBeGreaterThan(0);

    for (const [name, p] of [['game-a', page], ['game-b', pageB]] as const) {
      const path = testInfo.outputPath(`${name}.png`);
      await p.screenshot({ path, fullPage: true });
      await testInfo.attach(name, { path, contentType: 'image/png' });
    }
    expect(errorsB, 'console errors on the second page').toEqual([]);

    // B goes away: its connection leaves the channel's presence, and A's arena at once.
    await other.close();
    await expect(row(page, b)).toHaveCount(0, { timeout: 10_000 });
  } finally {
    await other.close();
  }
});

test('two tabs sharing one connection see each other move (the follower publishes through the leader)', async ({
  page,
}) => {
  test.setTimeout(90_000);
  const pageB = await page.context().newPage();
  const errorsB = watchConsole(pageB);
  const a = await play(page);
  const b = await play(pageB);
  await expect(row(page, b)).toBeVisible();
  await expect(row(pageB, a)).toBeVisible();
  // One connection: one tab leads, the other follows, both under the
  // connection's client id.
  const role = (p: Page) => p.getByTestId('game-role');
  const roles = async () => {
    const [ra, rb] = [role(page), role(pageB)];
    return {
      roles: [await ra.getAttribute('data-role'), await rb.getAttribute('data-role')].sort().join(','),
      same: (await ra.getAttribute('data-client')) === (await rb.getAttribute('data-client')),
    };
  };
  await expect.poll(roles, { timeout: 10_000 }).toEqual({ roles: 'follower,leader', same: true });
  expect(await role(page).getAttribute('data-client')).toMatch(/^[A-Za-z0-9_-]{16}$/);
  for (const [mover, watcher, id] of [[page, pageB, a], [pageB, page, b]] as const) {
    const start = await pos(mover, id);
    await mover.getByTestId('arena').focus();
    await mover.keyboard.down('d');
    await expect.poll(async () => (await pos(mover, id)).x, { timeout: 10_000 }).toBeGreaterThanOrEqual(start.x + 60);
    await mover.keyboard.up('d');
    await expect
      .poll(async () => JSON.stringify(await pos(watcher, id)) === JSON.stringify(await pos(mover, id)), { timeout: 10_000 })
      .toBe(true);
  }
  expect(errorsB, 'console errors on the second tab').toEqual([]);

  // The leader goes away: the follower takes the connection over.
  const leaderIsA = (await role(page).getAttribute('data-role')) === 'leader';
  const [gone, stays] = leaderIsA ? [page, pageB] : [pageB, page];
  await gone.close();
  await expect(role(stays)).toHaveAttribute('data-role', 'leader', { timeout: 15_000 });
  await expect(stays.getByTestId('game-status')).toHaveText('Connected over websocket: move!', { timeout: 15_000 });
});

test('a player on SSE and one on WebSocket see each other move (base64 one way, binary frames the other)', async ({
  page,
  browser,
}) => {
  test.setTimeout(90_000);
  const other = await browser.newContext();
  try {
    const pageB = await other.newPage();
    const errorsB = watchConsole(pageB);
    const a = await play(page, 'websocket');
    const b = await play(pageB, 'sse'); // publishes with POST, receives base64 envelopes
    await expect(row(page, b)).toBeVisible();
    await expect(row(pageB, a)).toBeVisible();

    const startB = await pos(pageB, b);
    await pageB.getByTestId('arena').focus();
    await pageB.keyboard.down('ArrowUp');
    await expect.poll(async () => (await pos(pageB, b)).y, { timeout: 10_000 }).toBeLessThanOrEqual(startB.y - 60);
    await pageB.keyboard.up('ArrowUp');
    await expect
      .poll(async () => JSON.stringify(await pos(page, b)) === JSON.stringify(await pos(pageB, b)), { timeout: 10_000 })
      .toBe(true);

    const startA = await pos(page, a);
    await page.getByTestId('arena').focus();
    await page.keyboard.down('a');
    await expect.poll(async () => (await pos(page, a)).x, { timeout: 10_000 }).toBeLessThanOrEqual(startA.x - 60);
    await page.keyboard.up('a');
    await expect
      .poll(async () => JSON.stringify(await pos(pageB, a)) === JSON.stringify(await pos(page, a)), { timeout: 10_000 })
      .toBe(true);
    await expect(pageB.getByTestId('game-wire')).toHaveText('sse');
    await expect(pageB.getByTestId('update-bytes')).toHaveText('23'); // the same bytes, after base64
    expect(errorsB, 'console errors on the second page').toEqual([]);
  } finally {
    await other.close();
  }
});
