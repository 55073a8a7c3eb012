// Helpers of the demo specs (demo-*.spec.ts): the demo's pages, waiting for
// a page's Duet connection, and screenshots saved as test artifacts.
import { expect } from './fixtures';
import type { Page, TestInfo } from '@playwright/test';

/** Every page of the demo, with the text its first paint must show. */
export const demoPages = [
  { path: '/', name: 'home', heading: /WebSocket and SSE/ },
  { path: '/chat', name: 'chat', heading: /Text chat/ },
  { path: '/notifications', name: 'notifications', heading: /Notifications/ },
  { path: '/feed', name: 'feed', heading: /Live feed/ },
  { path: '/game', name: 'game', heading: /Arena/ },
  { path: '/voice', name: 'voice', heading: /Voice \/ video room/ },
  { path: '/lab', name: 'lab', heading: /Transport lab/ },
];

/** Waits until the page's status line says its connection is open. */
export async function waitConnected(page: Page, timeout = 15_000) {
  await expect(page.getByTestId('conn-status')).toHaveAttribute('data-kind', 'ok', { timeout });
}

/** Saves a screenshot of page as an artifact of the test (test-results/ and the HTML report). */
export async function screenshot(page: Page, testInfo: TestInfo, name: string, fullPage = true) {
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

/** POSTs JSON from the page (its cookies included) and returns the answer. */
export async function post(page: Page, url: string, body: unknown = {}) {
  return page.evaluate(
    async ({ url, body }) => {
      const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      const text = await res.text();
      if (!res.ok) throw new Error(`${url}: ${res.status} ${text}`);
      return JSON.parse(text);
    },
    { url, body },
  );
}

/** The page's id (the "demo" parameter of its connections). */
export const pageID = (page: Page) => page.locator('[data-demo-page]').getAttribute('data-page-id');
