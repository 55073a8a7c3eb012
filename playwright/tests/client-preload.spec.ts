// The templ layout's preload tags: every demo page that runs a script asks
// for the loader, the Go runtime glue and the content-hashed module while
// its HTML parses, and the loader's own requests reuse those downloads
// (one request each, none repeated by loadDuet).
import { test, expect } from './fixtures';
import { waitConnected } from './demo-helpers';

test('a demo page preloads the client and loadDuet reuses the downloads', async ({ page }) => {
  const requests: string[] = [];
  page.on('request', (r) => requests.push(new URL(r.url()).pathname));
  await page.goto('/feed');
  const head = page.locator('head');
  const wasm = await head.locator('link[rel="preload"][as="fetch"]').getAttribute('href');
  expect(wasm).toMatch(/^\/static\/duet\.[0-9a-f]{16}\.wasm$/);
  await expect(head.locator('link[rel="preload"][as="fetch"]')).toHaveAttribute('crossorigin', 'anonymous');
  await expect(head.locator('link[rel="modulepreload"][href="/duet.js"]')).toHaveCount(1);
  await expect(head.locator('link[rel="modulepreload"][href="/static/wasm_exec.js"]')).toHaveCount(1);
  await waitConnected(page);
  // The loader fetched the very URL that was preloaded, so the browser
  // served it from the preload: one request for the module, one for each script.
  expect(requests.filter((p) => p === wasm)).toHaveLength(1);
  expect(requests.filter((p) => p === '/duet.js')).toHaveLength(1);
  expect(requests.filter((p) => p === '/static/wasm_exec.js')).toHaveLength(1);
  const fetched = await page.evaluate(() =>
    performance.getEntriesByType('resource').filter((e) => /\/duet\.[0-9a-f]+\.wasm$/.test(e.name)).length,
  );
  expect(fetched).toBe(1);
});
