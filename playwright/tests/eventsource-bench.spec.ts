// Benchmarks of Duet's browser client, printed, never asserted (speed
// depends on the machine):
//   - messages per second the EventSource polyfill decodes and dispatches,
//     against the native EventSource on the very same stream;
//   - time from the script start to the API being ready (loadDuet), on a
//     cold cache and a warm one.
// Run: npx playwright test tests/eventsource-bench.spec.ts
import { test, expect } from './fixtures';
import { StreamServer, openDuetPage } from './eventsource-helpers';

let server: StreamServer;

test.beforeAll(async () => {
  server = await StreamServer.start();
});

test.afterAll(async () => {
  await server?.stop();
});

// Long-lived pages ask for a favicon the server does not have.
test.use({ allowedConsoleErrors: [[/favicon\.ico/], { scope: 'test' }] });

const MESSAGES = 20_000;

/** The stream: MESSAGES events of about 120 bytes, then "done", in 64 KiB writes. */
function benchStream(): Buffer[] {
  const payload = 'x'.repeat(64);
  let s = 'retry: 60000\n';
  for (let i = 1; i <= MESSAGES; i++) s += `id: ${i}\ndata: {"i":${i},"payload":"${payload}"}\n\n`;
  s += 'event: done\ndata: end\n\n';
  const all = Buffer.from(s);
  const chunks: Buffer[] = [];
  for (let i = 0; i < all.length; i += 65536) chunks.push(all.subarray(i, i + 65536));
  return chunks;
}

type Run = { messages: number; totalMs: number; firstToLastMs: number; bytes: number };

test('benchmark: messages per second, polyfill vs native EventSource', async ({ page }) => {
  test.setTimeout(120_000);
  await openDuetPage(page);
  const chunks = benchStream();
  const bytes = chunks.reduce((n, c) => n + c.length, 0);
  const results: Record<string, Run[]> = { native: [], duet: [] };
  // Alternate, three rounds each, so a busy moment of the machine hits both.
  for (let round = 0; round < 3; round++) {
    for (const which of ['native', 'duet'] as const) {
      const url = server.script(`${test.info().testId}-${which}-${round}`, [{ chunks, then: 'hang' }]);
      const r = await page.evaluate(
        ({ which, url }) =>
          new Promise<{ messages: number; totalMs: number; firstToLastMs: number }>((resolve, reject) => {
            const C = which === 'native' ? window.EventSource : (window as any).Duet.EventSource;
            const t0 = performance.now();
            let first = 0;
            let n = 0;
            let sum = 0;
            const es = new C(url);
            es.onmessage = (e: MessageEvent) => {
              if (n++ === 0) first = performance.now();
              sum += e.data.length; // touch the data, as an application would
            };
            es.addEventListener('done', () => {
              const t1 = performance.now();
              es.close();
              resolve({ messages: n, totalMs: t1 - t0, firstToLastMs: t1 - first });
            });
            es.onerror = () => {
              es.close();
              reject(new Error(`${which}: error after ${n} messages (${sum} bytes)`));
            };
          }),
        { which, url },
      );
      expect(r.messages).toBe(MESSAGES);
      results[which].push({ ...r, bytes });
    }
  }
  const best = (runs: Run[]) => runs.reduce((a, b) => (b.firstToLastMs < a.firstToLastMs ? b : a));
  const lines: string[] = [];
  for (const which of ['native', 'duet'] as const) {
    const b = best(results[which]);
    const rate = (MESSAGES / b.firstToLastMs) * 1000;
    const mbps = (b.bytes / 1e6 / b.firstToLastMs) * 1000;
    lines.push(
      `${which.padEnd(6)}: ${Math.round(rate).toLocaleString('en')} msg/s (${mbps.toFixed(1)} MB/s), ` +
        `${MESSAGES} messages in ${b.firstToLastMs.toFixed(0)} ms from the first, ${b.totalMs.toFixed(0)} ms from new; ` +
        `all runs: ${results[which].map((r) => r.firstToLastMs.toFixed(0)).join(', ')} ms`,
    );
  }
  const ratio = best(results.native).firstToLastMs / best(results.duet).firstToLastMs;
  lines.push(`polyfill/native throughput: ${ratio.toFixed(2)}`);
  console.log(`EventSource benchmark (${MESSAGES} messages of ~120 bytes, ${(bytes / 1e6).toFixed(1)} MB):\n  ` + lines.join('\n  '));
  test.info().annotations.push({ type: 'benchmark', description: lines.join('\n') });
});

test('benchmark: time from script start to API ready', async ({ browser, baseURL }) => {
  test.setTimeout(120_000);
  const measure = async (page: import('@playwright/test').Page) =>
    page.evaluate(async () => {
      const t0 = performance.now();
      const mod = await import('/duet.js' as string);
      const tImported = performance.now();
      const Duet = await mod.loadDuet();
      const t1 = performance.now();
      return {
        importMs: tImported - t0,
        totalMs: t1 - t0,
        loadTimeMs: Duet.loadTimeMs as number,
        sinceNavigationMs: t1,
        // What the measurement is of: the API, ready to use.
        ready: typeof Duet.connect === 'function' && typeof Duet.EventSource === 'function',
      };
    });
  const cold: { importMs: number; totalMs: number; loadTimeMs: number; sinceNavigationMs: number; ready: boolean }[] = [];
  const warm: typeof cold = [];
  for (let i = 0; i < 3; i++) {
    // A fresh context: empty HTTP cache, nothing compiled.
    const ctx = await browser.newContext({ baseURL });
    const page = await ctx.newPage();
    await page.goto('/rt/healthz');
    cold.push(await measure(page));
    // The same context again: the module comes from the HTTP cache (immutable).
    await page.goto('/rt/healthz');
    warm.push(await measure(page));
    await ctx.close();
  }
  const fmt = (runs: typeof cold) => {
    const best = runs.reduce((a, b) => (b.totalMs < a.totalMs ? b : a));
    return (
      `${best.totalMs.toFixed(0)} ms (import duet.js ${best.importMs.toFixed(0)} ms, loadDuet ${best.loadTimeMs.toFixed(0)} ms; ` +
      `${best.sinceNavigationMs.toFixed(0)} ms after navigation start); all runs: ${runs.map((r) => r.totalMs.toFixed(0)).join(', ')} ms`
    );
  };
  // Timings are reported, not asserted (a loaded machine); what is asserted
  // is that every run measured a loaded API and a real load.
  for (const r of [...cold, ...warm]) {
    expect(r.ready, 'Duet.connect and Duet.EventSource after loadDuet').toBe(true);
    expect(r.loadTimeMs, 'Duet.loadTimeMs').toBeGreaterThan(0);
    expect(r.totalMs).toBeGreaterThanOrEqual(r.importMs);
  }
  const lines = [`cold cache: ${fmt(cold)}`, `warm cache: ${fmt(warm)}`];
  console.log('Duet API ready:\n  ' + lines.join('\n  '));
  test.info().annotations.push({ type: 'benchmark', description: lines.join('\n') });
});
