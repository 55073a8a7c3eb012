// Notifications and the feed: a notification pushed by the server appears
// as a toast and in the list, in every tab of the user, and mark-as-read
// updates the count everywhere; the feed's ticker updates the page.
import { test, expect } from './fixtures';
import { screenshot, waitConnected } from './demo-helpers';

test('a pushed notification appears in every tab of the user; reading it updates the count', async ({ page, context }, testInfo) => {
  await page.goto('/notifications');
  await waitConnected(page);
  const second = await context.newPage(); // same user: same cookie
  await second.goto('/notifications');
  await waitConnected(second);
  const before = Number(await page.getByTestId('unread').textContent());

  await page.getByTestId('push').click();
  await expect(page.getByTestId('toast').first()).toBeVisible();
  await expect(second.getByTestId('toast').first()).toBeVisible();
  for (const p of [page, second]) await expect(p.getByTestId('unread')).toHaveText(String(before + 1));
  const newest = page.getByTestId('notes').locator('li').first();
  await expect(newest).toHaveClass(/unread/);
  await screenshot(page, testInfo, 'notifications');

  await second.getByTestId('read-all').click();
  for (const p of [page, second]) await expect(p.getByTestId('unread')).toHaveText('0');
  await expect(page.getByTestId('notes').locator('li.unread')).toHaveCount(0);

  // Another user sees none of it.
  const stranger = await (await page.context().browser()!.newContext()).newPage();
  try {
    await stranger.goto('/notifications');
    await expect(stranger.getByTestId('unread')).toHaveText('0');
    await expect(stranger.getByTestId('empty')).toBeVisible();
  } finally {
    await stranger.context().close();
  }

  // A reload renders the list from the server, read state included.
  await page.reload();
  await expect(page.getByTestId('unread')).toHaveText('0');
  await expect(page.getByTestId('notes').locator('li')).toHaveCount(before + 1);
});

test('the feed updates many times a second', async ({ page }, testInfo) => {
  await page.goto('/feed');
  await waitConnected(page);
  const first = await page.getByTestId('quotes').locator('tbody').innerText();
  await expect.poll(async () => Number(await page.getByTestId('feed-count').textContent()), { timeout: 10_000 }).toBeGreaterThan(40);
  await expect.poll(async () => Number(await page.getByTestId('feed-rate').textContent()), { timeout: 10_000 }).toBeGreaterThan(5);
  expect(await page.getByTestId('quotes').locator('tbody').innerText(), 'prices changed').not.toBe(first);
  // Painted in batches: fewer frames than messages.
  const frames = Number(await page.getByTestId('feed-frames').textContent());
  const count = Number(await page.getByTestId('feed-count').textContent());
  expect(frames).toBeGreaterThan(0);
  expect(frames).toBeLessThanOrEqual(count);
  await screenshot(page, testInfo, 'feed');
});
