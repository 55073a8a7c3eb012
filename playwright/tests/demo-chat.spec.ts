// Chat: two browser contexts (two users) talk; a dropped connection
// resumes with nothing lost or doubled; a newcomer gets the history.
import { test, expect } from './fixtures';
import type { Page } from '@playwright/test';
import { screenshot, waitConnected } from './demo-helpers';

const room = 'go';

async function join(page: Page, nick: string) {
  await page.goto(`/chat?room=${room}`);
  await waitConnected(page);
  await page.getByLabel('Nickname').fill(nick);
}

async function say(page: Page, text: string) {
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.getByTestId('send').click();
  await expect(page.getByLabel('Message', { exact: true })).toHaveValue('');
}

/** Expects each text exactly once in the page's message list. */
async function expectOnce(page: Page, texts: string[]) {
  const list = page.getByTestId('messages');
  for (const t of texts) await expect(list.locator('.text', { hasText: new RegExp(`^${t}$`) })).toHaveCount(1);
  const ids = await list.locator('li[data-id]').evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.id));
  expect(new Set(ids).size, 'message ids in the list are unique').toBe(ids.length);
}

test('two users chat; a dropped connection loses and doubles nothing', async ({ page, browser }, testInfo) => {
  const tag = Math.random().toString(36).slice(2, 8);
  const other = await browser.newContext();
  try {
    const bob = await other.newPage();
    await join(page, 'alice');
    await join(bob, 'bob');

    await say(page, `hello from alice ${tag}`);
    await say(bob, `hi alice, bob here ${tag}`);
    await expectOnce(page, [`hello from alice ${tag}`, `hi alice, bob here ${tag}`]);
    await expectOnce(bob, [`hello from alice ${tag}`, `hi alice, bob here ${tag}`]);

    // Alice's connection drops; Bob keeps talking meanwhile.
    await page.getByTestId('drop').click();
    await expect(page.getByTestId('chat-note')).toContainText(/Dropped [1-9]/);
    const burst = Array.from({ length: 5 }, (_, i) => `while you were away ${i} ${tag}`);
    for (const t of burst) await say(bob, t);
    await waitConnected(page);
    await expectOnce(page, burst);
    await expectOnce(bob, burst);

    // A newcomer gets the history in the first paint, before any script.
    const carol = await other.newPage();
    await carol.goto(`/chat?room=${room}`);
    await expectOnce(carol, [`hello from alice ${tag}`, ...burst]);
    await screenshot(bob, testInfo, 'chat-two-users');
  } finally {
    await other.close();
  }
});

test('the server refuses what breaks the limits', async ({ request }) => {
  const send = async (data: unknown) => (await request.post('/demo/chat/send', { data })).status();
  expect(await send({ room: 'nope', nick: 'a', text: 'b' }), 'unknown room').toBe(404);
  expect(await send({ room: 'lobby', nick: 'x'.repeat(25), text: 'b' }), 'nickname too long').toBe(400);
  expect(await send({ room: 'lobby', nick: 'a', text: 'x'.repeat(501) }), 'message too long').toBe(400);
  expect(await send({ room: 'lobby', nick: ' ', text: 'b' }), 'blank nickname').toBe(400);
});
