// Every page of the demo: served, painted by the server with its
// explanation before any script runs, connected once the client loads, no
// console errors, usable at a phone's width; a screenshot of each.
import { test, expect } from './fixtures';
import { demoPages, screenshot, waitConnected } from './demo-helpers';

for (const p of demoPages) {
  test(`${p.path} loads with no console errors`, async ({ page }, testInfo) => {
    const res = await page.goto(p.path);
    expect(res?.status(), `GET ${p.path}`).toBe(200);
    await expect(page.locator('h1')).toHaveText(p.heading);
    // The navigation marks the current page.
    await expect(page.getByTestId('nav').locator('a[aria-current="page"]')).toHaveAttribute('href', p.path);
    await waitConnected(page);
    await screenshot(page, testInfo, p.name);
  });
}

test('first paint explains each page without JavaScript', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  try {
    const page = await context.newPage();
    for (const p of demoPages) {
      await page.goto(p.path);
      await expect(page.locator('h1')).toHaveText(p.heading);
      await expect(page.locator('.lead')).not.toBeEmpty();
      await expect(page.getByTestId('conn-status')).toContainText('Loading the Duet client');
    }
    await page.goto('/');
    await expect(page.getByTestId('compare').locator('tbody tr')).toHaveCount(8);
  } finally {
    await context.close();
  }
});

test('the home table shows what the page does, live', async ({ page }, testInfo) => {
  await page.goto('/');
  await waitConnected(page);
  await expect(page.getByTestId('live-direction')).toContainText(/receiving on (WebSocket|SSE)/);
  await expect(page.getByTestId('live-connections')).toContainText(/this tab (holds|rides|has)/);
  await expect(page.getByTestId('live-support')).toContainText(/client loaded in \d+ ms/);
  // The pulse comes every 5 s.
  await expect(page.getByTestId('live-dropped')).toContainText(/last server pulse \d+ s ago/, { timeout: 12_000 });
  // Both directions on the one connection: publish, and the message comes back.
  await page.getByTestId('echo').click();
  await expect(page.getByTestId('live-direction')).toContainText(/\d+ ms there and back \(sent by (a WebSocket frame|POST)\)/);
  // This page's own connection is among those the server counts.
  const held = page.getByTestId('live-connections');
  await expect(held).not.toContainText('holds 0 SSE + 0 WS');
  await screenshot(page, testInfo, 'home-live');
});

test('phone width: the navigation wraps and nothing scrolls sideways', async ({ page }, testInfo) => {
  await page.setViewportSize({ width: 360, height: 740 });
  for (const path of ['/', '/chat', '/lab']) {
    await page.goto(path);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `${path}: horizontal overflow in px`).toBeLessThanOrEqual(0);
  }
  await page.goto('/chat');
  await waitConnected(page);
  await screenshot(page, testInfo, 'chat-phone');
});

test('keyboard: the skip link is the first stop and leads to the content', async ({ page }) => {
  await page.goto('/chat');
  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to content' });
  await expect(skip).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/#main$/);
  // Every input has a label.
  await expect(page.getByLabel('Nickname')).toBeVisible();
  await expect(page.getByLabel('Message', { exact: true })).toBeVisible();
});
