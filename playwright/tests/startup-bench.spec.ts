// Start-up benchmark of Duet's browser client, printed, never asserted
// (times depend on the machine and its load): from a script's start on a
// blank page of the server's origin to the first message through
// Duet.connect, split into the loader's and the Go program's User Timing
// marks, next to a native EventSource's first message on the same page.
//
// Cold: a fresh browser context (empty HTTP cache, no compiled code).
// Warm: the same page loaded again. Median of RUNS of each.
//
// Both clients get the same first message: the test publishes A then B on a
// fresh channel, and both resume after A, so B comes from history at once
// (no wait for a publisher).
//
// A last, traced warm load reports the V8 wasm code-cache events Chromium
// records (v8.wasm.moduleCacheHit and friends), to check that the warm path
// compiles nothing.
//
// Run: go tool task bench:startup (or npx playwright test tests/startup-bench.spec.ts)
import { test, expect } from './fixtures';
import type { Browser, Page } from '@playwright/test';

const RUNS = Number(process.env.DUET_STARTUP_RUNS) || 5;

type Sample = Record<string, number>;

/** The figures, in ms, in the order they are printed; each is computed from the page's marks. */
const STAGES: [string, string][] = [
  ['import', 'import /duet.js'],
  ['fetch', 'fetch .wasm (start to last byte)'],
  ['compile', 'fetch + compile (streaming)'],
  ['instantiate', 'instantiate'],
  ['goInit', 'Go runtime + package init'],
  ['register', 'API registration'],
  ['loadDuet', 'loadDuet() total'],
  ['lock', 'Duet.connect → lock (leader)'],
  ['connect', 'Duet.connect → first message'],
  ['firstMessage', 'first message from script start'],
  ['native', 'native EventSource first message'],
];

async function publish(baseURL: string, channel: string, data: unknown): Promise<string> {
  const res = await fetch(`${baseURL}/rt/publish`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, data }),
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`publish: ${res.status} ${body}`);
  return JSON.parse(body).id;
}

/** Loads Duet from the script's start, connects, waits for the first message; then the native EventSource. */
async function measure(page: Page, channel: string, after: string): Promise<Sample> {
  const duet = await page.evaluate(
    async ({ channel, after }) => {
      const t0 = performance.now();
      const mod = await import('/duet.js' as string);
      const tImport = performance.now();
      const Duet = await mod.loadDuet();
      const tConnect = performance.now();
      const data = await new Promise<unknown>((resolve, reject) => {
        const conn = Duet.connect('/', { channels: [channel], lastEventId: after });
        conn.on('message', (m: { data: unknown }) => {
          conn.close();
          resolve(m.data);
        });
        setTimeout(() => reject(new Error('no message through Duet.connect in 10 s')), 10_000);
      });
      const tFirst = performance.now();
      const m: Record<string, number> = {};
      for (const e of performance.getEntriesByType('mark')) if (e.name.startsWith('duet:')) m[e.name] = e.startTime;
      const wasm = performance
        .getEntriesByType('resource')
        .find((e) => /\/duet\.[0-9a-f]+\.wasm$|\/duet\.wasm$/.test(e.name)) as PerformanceResourceTiming | undefined;
      return {
        data,
        s: {
          import: tImport - t0,
          fetch: wasm ? wasm.responseEnd - wasm.startTime : NaN,
          compile: m['duet:compiled'] - m['duet:load'],
          instantiate: m['duet:instantiated'] - m['duet:compiled'],
          goInit: m['duet:go-main'] - m['duet:instantiated'],
          register: m['duet:api'] - m['duet:go-main'],
          loadDuet: m['duet:ready'] - m['duet:load'],
          lock: m['duet:lock'] !== undefined ? m['duet:lock'] - tConnect : NaN,
          connect: tFirst - tConnect,
          firstMessage: tFirst - t0,
          wasmTransferBytes: wasm ? wasm.transferSize : NaN,
        },
      };
    },
    { channel, after },
  );
  expect(duet.data).toBe('B');
  const native = await page.evaluate(
    ({ channel, after }) =>
      new Promise<number>((resolve, reject) => {
        const t0 = performance.now();
        const es = new EventSource(`/rt/sse?channel=${encodeURIComponent(channel)}&lastEventId=${encodeURIComponent(after)}`);
        es.onmessage = (e) => {
          es.close();
          if (JSON.parse(e.data).data !== 'B') reject(new Error(`native: first message ${e.data}`));
          resolve(performance.now() - t0);
        };
        setTimeout(() => reject(new Error('no message through the native EventSource in 10 s')), 10_000);
      }),
    { channel, after },
  );
  return { ...duet.s, native };
}

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Chromium's trace events about the wasm module and its code cache during a warm load. */
async function codeCacheEvents(browser: Browser, baseURL: string, channel: string, after: string): Promise<string> {
  const ctx = await browser.newContext({ baseURL });
  try {
    const page = await ctx.newPage();
    await page.goto('/rt/healthz');
    await measure(page, channel, after);
    // Chromium writes the code cache after the module has run a while.
    await page.waitForTimeout(2_000);
    const warm = async () => {
      await page.goto('/rt/healthz');
      await browser.startTracing(page, { categories: ['disabled-by-default-devtools.timeline', 'devtools.timeline', 'v8.wasm'] });
      await measure(page, channel, after);
      const trace = JSON.parse((await browser.stopTracing()).toString()) as { traceEvents: { name: string }[] };
      const counts = new Map<string, number>();
      for (const e of trace.traceEvents) {
        if (/^v8\.wasm\./.test(e.name) || /wasm.*cache|cache.*wasm/i.test(e.name)) counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
      }
      return [...counts].map(([n, c]) => `${n}×${c}`).join(', ') || '(no wasm events)';
    };
    const second = await warm();
    const third = await warm();
    return `2nd load: ${second}\n  3rd load: ${third}`;
  } finally {
    await ctx.close();
  }
}

test('benchmark: start-up breakdown, cold and warm, vs native EventSource', async ({ browser, baseURL }) => {
  test.setTimeout(240_000);
  const channel = `bench:startup-${Date.now()}`;
  const after = await publish(baseURL!, channel, 'A');
  await publish(baseURL!, channel, 'B');

  const cold: Sample[] = [];
  const warm: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    const ctx = await browser.newContext({ baseURL });
    const page = await ctx.newPage();
    await page.goto('/rt/healthz');
    cold.push(await measure(page, channel, after));
    await page.reload();
    warm.push(await measure(page, channel, after));
    await ctx.close();
  }

  const cell = (runs: Sample[], key: string) => median(runs.map((r) => r[key])).toFixed(0);
  const lines = [`${'stage (median of ' + RUNS + ', ms)'.padEnd(40)} ${'cold'.padStart(6)} ${'warm'.padStart(6)}`];
  for (const [key, label] of STAGES) lines.push(`${label.padEnd(40)} ${cell(cold, key).padStart(6)} ${cell(warm, key).padStart(6)}`);
  const ratio = (runs: Sample[]) => (median(runs.map((r) => r.firstMessage)) / median(runs.map((r) => r.native))).toFixed(1);
  lines.push(`${'first message, Duet / native'.padEnd(40)} ${(ratio(cold) + '×').padStart(6)} ${(ratio(warm) + '×').padStart(6)}`);
  lines.push(`${'.wasm bytes over the network'.padEnd(40)} ${cell(cold, 'wasmTransferBytes').padStart(6)} ${cell(warm, 'wasmTransferBytes').padStart(6)}`);
  lines.push('V8 wasm code cache, traced warm loads:\n  ' + (await codeCacheEvents(browser, baseURL!, channel, after)));
  console.log('Duet start-up:\n' + lines.join('\n'));
  test.info().annotations.push({ type: 'benchmark', description: lines.join('\n') });
});
