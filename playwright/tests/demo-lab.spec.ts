// Transport lab: dropping and restarting the connections loses and doubles
// nothing; blocking WebSocket makes "auto" end on SSE, and unblocking it
// brings it back; native EventSources hit the six-connection limit.
import { test, expect } from './fixtures';
import type { Page } from '@playwright/test';
import { screenshot, waitConnected } from './demo-helpers';
import { overHTTPS } from './tls';

// A refused upgrade is logged by Chromium; the page expects it.
test.use({ allowedConsoleErrors: [/WebSocket connection to .*\/rt\/ws.* failed/] });

const pane = (page: Page, key: string) => page.getByTestId(`pane-${key}`);
const metric = async (page: Page, key: string, name: string) =>
  Number(await pane(page, key).locator(`[data-m="${name}"]`).textContent());

async function expectReceiving(page: Page, key: string, more = 20) {
  const start = await metric(page, key, 'received');
  await expect.poll(() => metric(page, key, 'received'), { timeout: 15_000 }).toBeGreaterThan(start + more);
}

async function expectNoLoss(page: Page) {
  for (const key of ['auto', 'sse']) {
    expect(await metric(page, key, 'lost'), `${key}: lost`).toBe(0);
    expect(await metric(page, key, 'doubled'), `${key}: doubled`).toBe(0);
    // The page's lost counter restarts at a gap notice: a resume must be
    // exact, with no gap at all.
    expect(await pane(page, key).getAttribute('data-gaps'), `${key}: gap notices`).toBeNull();
  }
}

test('drop and restart: both panes recover with no lost or doubled message', async ({ page }, testInfo) => {
  await page.goto('/lab');
  await waitConnected(page);
  await expect(pane(page, 'auto')).toHaveAttribute('data-wire', 'websocket');
  await expect(pane(page, 'sse')).toHaveAttribute('data-wire', 'sse');
  await expectReceiving(page, 'auto');
  await expectReceiving(page, 'sse');

  await page.getByTestId('lab-drop').click();
  await expect.poll(() => metric(page, 'auto', 'reconnects'), { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
  await expect.poll(() => metric(page, 'sse', 'reconnects'), { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
  await waitConnected(page);
  await expectReceiving(page, 'auto');
  await expectReceiving(page, 'sse');
  await expectNoLoss(page);

  await page.getByTestId('lab-restart').click();
  await expect.poll(() => metric(page, 'auto', 'reconnects'), { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
  await expect.poll(() => metric(page, 'sse', 'reconnects'), { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
  await expectReceiving(page, 'auto');
  await expectReceiving(page, 'sse');
  await expectNoLoss(page);
  await expect(pane(page, 'auto').locator('[data-m="p50"]')).toHaveText(/\d+ ms/);
  await screenshot(page, testInfo, 'lab');
});

test('blocking WebSocket: auto ends on SSE, and returns to WebSocket when unblocked', async ({ page }) => {
  await page.goto('/lab');
  await waitConnected(page);
  await expect(pane(page, 'auto')).toHaveAttribute('data-wire', 'websocket');

  await page.getByTestId('lab-block').click();
  await expect(page.getByTestId('lab-block')).toHaveAttribute('aria-pressed', 'true');
  await expect(pane(page, 'auto')).toHaveAttribute('data-wire', 'sse', { timeout: 15_000 });
  await expect(pane(page, 'auto')).toHaveAttribute('data-state', 'open');
  await expectReceiving(page, 'auto');
  await expectNoLoss(page);

  await page.getByTestId('lab-block').click();
  await expect(page.getByTestId('lab-block')).toHaveAttribute('aria-pressed', 'false');
  // wsRetryAfter is 5 s on this page.
  await expect(pane(page, 'auto')).toHaveAttribute('data-wire', 'websocket', { timeout: 20_000 });
  await expectReceiving(page, 'auto');
  await expectNoLoss(page);
});

test('native EventSources hit the six-connection limit, except over HTTP/2', async ({ page }, testInfo) => {
  await page.goto('/lab');
  await waitConnected(page);
  await page.getByTestId('lab-native').click();
  const sources = page.getByTestId('sources').locator('li');
  await expect(sources).toHaveCount(8);
  if (overHTTPS(testInfo)) {
    // One connection carries every stream: all open, and they receive.
    await expect(page.getByTestId('limit-protocol')).toContainText('HTTP/2 (h2)');
    await expect(page.getByTestId('limit-summary')).toContainText('8 of 8 native EventSources open, 0 waiting: over HTTP/2', { timeout: 10_000 });
    await expect(sources.filter({ hasText: /open, [1-9]\d* messages/ })).toHaveCount(8, { timeout: 10_000 });
    await page.getByTestId('lab-close').click();
    await expect(sources).toHaveCount(0);
    return;
  }
  await expect(page.getByTestId('limit-protocol')).toContainText('HTTP/1.1');
  // At most six per origin, and the SSE pane holds one of them already.
  await expect(page.getByTestId('limit-summary')).toContainText(/[1-5] of 8 native EventSources open, [3-7] waiting/, { timeout: 10_000 });
  // They stay stuck: a few seconds later, still no more than five.
  await page.waitForTimeout(2_000);
  expect(await sources.and(page.locator('[data-state="open"]')).count()).toBeLessThanOrEqual(5);
  await page.getByTestId('lab-close').click();
  await expect(sources).toHaveCount(0);
});

test('Duet tabs share one connection: one leader, every tab receives', async ({ page }, testInfo) => {
  test.setTimeout(90_000); // eight frames each start the WebAssembly client
  await page.goto('/lab');
  await waitConnected(page);
  await page.getByTestId('lab-tabs').click();
  const frames = page.getByTestId('frames').locator('iframe');
  await expect(frames).toHaveCount(8);
  const statuses = () =>
    Promise.all(Array.from({ length: 8 }, (_, i) => page.frameLocator(`iframe >> nth=${i}`).getByTestId('tab-status').textContent()));
  await expect
    .poll(async () => (await statuses()).filter((s) => /open .*, [1-9]\d* messages/.test(s ?? '')).length, { timeout: 60_000 })
    .toBe(8);
  const all = await statuses();
  expect(all.filter((s) => s?.includes('leader')), `one leader among:\n${all.join('\n')}`).toHaveLength(1);
  await screenshot(page, testInfo, 'lab-tabs');
});

test('publish twice with one key: one id, stored once', async ({ page }) => {
  test.setTimeout(60_000);
  await page.goto('/lab');
  await waitConnected(page);
  await page.getByTestId('lab-twice').click();
  const out = page.getByTestId('twice-result');
  await expect(out).toContainText('stored once');
  const first = await out.getAttribute('data-first');
  expect(first).toBeTruthy();
  expect(await out.getAttribute('data-second')).toBe(first);
  // The channel's history holds the message once.
  const pageId = await page.locator('[data-page-id]').first().getAttribute('data-page-id');
  const res = await page.request.get(`/rt/history?channel=${encodeURIComponent(`lab:twice:${pageId}`)}`);
  expect(res.ok()).toBeTruthy();
  const body = await res.json();
  expect(body.messages.map((m: { id: string }) => m.id)).toEqual([first]);
  expect(body.complete).toBe(true);
});

test('the start-up page measures every stage of a load and a reload', async ({ page }) => {
  await page.goto('/lab');
  await page.getByTestId('lab-startup-link').click();
  await expect(page).toHaveURL(/\/lab\/startup$/);
  await expect(page.getByTestId('startup-status')).toHaveText('done: 1 load', { timeout: 20_000 });
  await page.goto('/lab/startup?runs=2');
  await expect(page.getByTestId('startup-status')).toHaveText('done: 2 loads', { timeout: 30_000 });
  const rows = page.getByTestId('startup').locator('tr');
  await expect(rows).toHaveCount(12); // the header and 11 stages
  // Every figure of both loads is a number of ms, the lock's included (a
  // tab alone leads), and the first message comes after loadDuet.
  const cells = await page.getByTestId('startup').locator('td').allTextContents();
  expect(cells).toHaveLength(22);
  for (const c of cells) expect(c).toMatch(/^\d+$/);
  const col = async (label: string) =>
    (await rows.filter({ hasText: label }).locator('td').allTextContents()).map(Number);
  const [load1, load2] = await col('loadDuet() total');
  const [first1, first2] = await col('first message from script start');
  expect(first1).toBeGreaterThan(load1);
  expect(first2).toBeGreaterThan(load2);
});
