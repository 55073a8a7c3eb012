// The voice and video room: Chromium's fake camera and microphone record
// on two pages (two browser contexts); each page's MediaRecorder chunks
// reach the other as binary WebSocket frames and play there.
import { test, expect } from './fixtures';
import type { Page } from '@playwright/test';
import config from '../playwright.config';
import { watchConsole } from './console-helpers';

const base = config.use?.launchOptions ?? {};
test.use({
  launchOptions: {
    ...base,
    args: [...(base.args ?? []), '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
  },
});

async function joinRoom(page: Page): Promise<string> {
  await page.goto('/voice');
  await expect(page.getByTestId('webrtc-note')).toContainText('WebRTC');
  await expect(page.getByTestId('voice-status')).toHaveText(/Connected over websocket/, { timeout: 20_000 });
  await page.getByTestId('voice-join').click();
  await expect(page.getByTestId('voice-status')).toHaveText(/In the room/, { timeout: 10_000 });
  return (await page.getByTestId('voice-me').textContent())!.replace('#', '');
}

const count = async (page: Page, id: string) => Number(await page.getByTestId(id).textContent());

test('the room carries media chunks between two pages, which play them', async ({ page, browser }, testInfo) => {
  test.setTimeout(90_000);
  const other = await browser.newContext();
  try {
    const pageB = await other.newPage();
    const errorsB = watchConsole(pageB);
    const a = await joinRoom(page);
    const b = await joinRoom(pageB);

    // Chunks flow both ways, several per second.
    for (const [p, from] of [[pageB, a], [page, b]] as const) {
      await expect.poll(() => count(p, 'chunks-received'), { timeout: 15_000 }).toBeGreaterThanOrEqual(8);
      expect(await count(p, 'bytes-received')).toBeGreaterThan(2_000);
      const tile = p.locator(`[data-testid="peer"][data-id="${parseInt(from, 36)}"]`);
      await expect(tile).toBeVisible();
      // The receiving page plays the stream: its video has frames to show.
      await expect
        .poll(() => tile.locator('video').evaluate((v: HTMLVideoElement) => v.readyState), { timeout: 15_000 })
        .toBeGreaterThanOrEqual(2);
    }
    expect(await count(page, 'chunks-sent')).toBeGreaterThanOrEqual(8);

    for (const [name, p] of [['voice-a', page], ['voice-b', pageB]] as const) {
      const path = testInfo.outputPath(`${name}.png`);
      await p.screenshot({ path, fullPage: true });
      await testInfo.attach(name, { path, contentType: 'image/png' });
    }

    // Leaving removes the tile from the other page.
    await pageB.getByTestId('voice-leave').click();
    await expect(page.locator(`[data-testid="peer"][data-id="${parseInt(b, 36)}"]`)).toHaveCount(0, { timeout: 10_000 });
    expect(errorsB, 'console errors on the second page').toEqual([]);
  } finally {
    await other.close();
  }
});
