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

test('load earlier messages pages back through the history', async ({ page }, testInfo) => {
  test.setTimeout(90_000); // 70 publishes first, on a shared machine
  const tag = Math.random().toString(36).slice(2, 8);
  const room = 'random';
  // 70 messages: the page renders the newest 50, "load earlier" adds the rest.
  for (let i = 0; i < 70; i++) {
    const res = await page.request.post('/rt/publish', {
      data: { channel: `chat:${room}`, event: 'chat', data: { nick: 'pager', text: `${tag} ${i}` } },
    });
    expect(res.ok()).toBeTruthy();
  }
  await page.goto(`/chat?room=${room}`);
  await waitConnected(page);
  const texts = () => page.getByTestId('messages').locator('.text').allTextContents();
  const ours = async () => (await texts()).filter((t) => t.startsWith(`${tag} `));
  expect(await ours()).toEqual(Array.from({ length: 50 }, (_, i) => `${tag} ${i + 20}`));

  await page.getByTestId('load-earlier').click();
  await expect(page.getByTestId('earlier-note')).toContainText(/earlier messages loaded|beginning|as far back/);
  expect(await ours()).toEqual(Array.from({ length: 70 }, (_, i) => `${tag} ${i}`));
  const ids = await page.getByTestId('messages').locator('li').evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.id!));
  expect(new Set(ids).size, 'no message twice').toBe(ids.length);
  const seqs = ids.map((id) => Number(id.split('-')[1]));
  expect(seqs, 'in id order').toEqual([...seqs].sort((a, b) => a - b));

  // A live message still arrives after the paging, at the bottom.
  await page.getByLabel('Nickname').fill('pager');
  await page.getByLabel('Message', { exact: true }).fill(`${tag} live`);
  await page.getByTestId('send').click();
  await expect.poll(async () => (await ours()).at(-1)).toBe(`${tag} live`);
  await screenshot(page, testInfo, 'chat-load-earlier');
});
