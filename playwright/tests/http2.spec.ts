// 100 native EventSources in one tab. Over HTTP/2 (the https project) one
// connection carries every stream and each gets every message; over
// HTTP/1.1 (the http project) the browser's six connections per origin are
// all the streams there are, and the other 94 wait, stuck in CONNECTING:
// every wait here is bounded, since that case never ends by itself.
import { test, expect } from './fixtures';
import { overHTTPS } from './tls';

const sources = 100;
const messages = 5;

test('100 native EventSources in one tab: all receive every message over HTTP/2, six over HTTP/1.1', async ({
  page,
  request,
}, testInfo) => {
  test.setTimeout(60_000);
  const h2 = overHTTPS(testInfo);
  const expectOpen = h2 ? sources : 6;
  // healthz has no icon: answer the browser's request for one, or it logs a 404.
  await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204 }));
  await page.goto('/rt/healthz');
  expect(await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as any).nextHopProtocol)).toBe(h2 ? 'h2' : 'http/1.1');

  const channel = `many-${testInfo.project.name}-${Date.now()}`;
  await page.evaluate(
    ({ n, channel }) => {
      const w = window as any;
      w.sources = [];
      w.counts = new Array(n).fill(0);
      for (let i = 0; i < n; i++) {
        const es = new EventSource(`/rt/sse?channel=${channel}`);
        es.addEventListener('m', () => w.counts[i]++);
        w.sources.push(es);
      }
    },
    { n: sources, channel },
  );
  const state = () =>
    page.evaluate(() => {
      const w = window as any;
      return { open: w.sources.filter((s: EventSource) => s.readyState === EventSource.OPEN).length, counts: w.counts as number[] };
    });
  await expect.poll(async () => (await state()).open, { timeout: 20_000 }).toBe(expectOpen);
  if (!h2) {
    // They stay stuck: a while later, still six.
    await page.waitForTimeout(2_000);
    expect((await state()).open).toBe(6);
  }

  for (let k = 0; k < messages; k++) {
    const res = await request.post('/rt/publish', { data: { channel, event: 'm', data: { k } } });
    expect(res.status()).toBe(200);
  }
  await expect
    .poll(async () => (await state()).counts.filter((c) => c === messages).length, { timeout: 20_000 })
    .toBe(expectOpen);
  const { counts } = await state();
  expect(counts.filter((c) => c === 0).length, 'streams that received nothing').toBe(sources - expectOpen);
  await page.evaluate(() => (window as any).sources.forEach((s: EventSource) => s.close()));
});
