// Start-up benchmark of Duet's browser client, printed, never asserted
// (times depend on the machine and its load): from a script's start on a
// bare page of the server's origin to the first message through
// Duet.connect, split into the loader's and the Go program's User Timing
// marks, next to a native EventSource's first message on the same page.
//
// The demo's /lab/startup page measures (web/static/lab-startup.js) and
// publishes its figures on a channel this test reads back from the
// channel's history. Cold: a fresh browser context (empty HTTP cache, no
// compiled code). Warm: the same page reloaded 2 s later, as a user's next
// visit, once the browser has written its wasm code cache. Median of RUNS.
//
// Both clients get the same first message: the test publishes A then B on a
// fresh channel, and both resume after A, so B comes from history at once
// (no wait for a publisher).
//
// Two browsers: Playwright's, and a Chromium the test starts itself without
// DevTools. Playwright's session on the page stalls its main thread for
// about 100 ms after a warm module load (one DevToolsSession task in the
// trace), which no user's browser pays: the second table is what users get.
// A last, traced warm load in Playwright's browser lists the V8 wasm
// code-cache events Chromium records, to check that the warm path compiles
// nothing.
//
// Run: go tool task bench:startup (or npx playwright test tests/startup-bench.spec.ts)
import { test, expect } from './fixtures';
import type { Browser } from '@playwright/test';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const RUNS = Number(process.env.DUET_STARTUP_RUNS) || 5;
const chromium = process.env.DUET_CHROMIUM || '/usr/bin/chromium';

type Sample = Record<string, number | null>;

/** The figures, in ms, in the order they are printed (the keys of lab-startup.js's samples). */
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

let reports = 0;

/** The /lab/startup URL of runs loads, and the channel its report comes on. */
function startupPage(baseURL: string, channel: string, after: string, runs: number): { url: string; report: string } {
  const report = `bench:startup-report-${Date.now()}-${reports++}`;
  const q = new URLSearchParams({ channel, after, runs: String(runs), report });
  return { url: `${baseURL}/lab/startup?${q}`, report };
}

/** Waits (up to 30 s) for the page's report: one sample per load. */
async function reportOf(baseURL: string, report: string, runs: number): Promise<Sample[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${baseURL}/rt/history?channel=${encodeURIComponent(report)}`);
    const msgs = (await res.json()).messages as { data: Sample[] | { error: string } }[];
    if (msgs.length > 0) {
      const data = msgs[0].data;
      if (!Array.isArray(data)) throw new Error(`/lab/startup failed: ${data.error}`);
      expect(data).toHaveLength(runs);
      return data;
    }
    if (Date.now() > deadline) throw new Error(`/lab/startup published no report on ${report} within 30 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Cold and warm samples from Playwright's browser: a fresh context per run. */
async function throughPlaywright(browser: Browser, baseURL: string, channel: string, after: string) {
  const cold: Sample[] = [];
  const warm: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    const ctx = await browser.newContext();
    try {
      const { url, report } = startupPage(baseURL, channel, after, 2);
      await (await ctx.newPage()).goto(url);
      const [c, w] = await reportOf(baseURL, report, 2);
      cold.push(c);
      warm.push(w);
    } finally {
      await ctx.close();
    }
  }
  return { cold, warm };
}

/** Cold and warm samples from a Chromium without DevTools: a fresh profile per run. */
async function withoutDevTools(baseURL: string, channel: string, after: string) {
  const cold: Sample[] = [];
  const warm: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'duet-startup-'));
    const { url, report } = startupPage(baseURL, channel, after, 2);
    const proc = spawn(
      chromium,
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${dir}`, url],
      // Its own process group: the browser's helpers (renderer, GPU,
      // network) end with it.
      { stdio: 'ignore', detached: true },
    );
    const exited = new Promise((r) => proc.once('exit', r));
    try {
      const [c, w] = await reportOf(baseURL, report, 2);
      cold.push(c);
      warm.push(w);
    } finally {
      try {
        process.kill(-proc.pid!, 'SIGKILL'); // the group this test started
      } catch {
        proc.kill('SIGKILL');
      }
      await exited;
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    }
  }
  return { cold, warm };
}

/** Chromium's trace events about the wasm module and its code cache during warm loads. */
async function codeCacheEvents(browser: Browser, baseURL: string, channel: string, after: string): Promise<string> {
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    const load = async () => {
      const { url, report } = startupPage(baseURL, channel, after, 1);
      await page.goto(url);
      await reportOf(baseURL, report, 1);
    };
    await load();
    // Chromium writes the code cache after the module has run a while.
    await page.waitForTimeout(2_000);
    const warm = async () => {
      await browser.startTracing(page, { categories: ['disabled-by-default-devtools.timeline', 'devtools.timeline', 'v8.wasm'] });
      await load();
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

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The printed table of cold and warm medians. */
function table(cold: Sample[], warm: Sample[]): string[] {
  const med = (runs: Sample[], key: string) => median(runs.map((r) => r[key] ?? NaN));
  const cell = (runs: Sample[], key: string) => med(runs, key).toFixed(0);
  const lines = [`${('stage (median of ' + RUNS + ', ms)').padEnd(40)} ${'cold'.padStart(6)} ${'warm'.padStart(6)}`];
  for (const [key, label] of STAGES) lines.push(`${label.padEnd(40)} ${cell(cold, key).padStart(6)} ${cell(warm, key).padStart(6)}`);
  const ratio = (runs: Sample[]) => (med(runs, 'firstMessage') / med(runs, 'native')).toFixed(1);
  lines.push(`${'first message, Duet / native'.padEnd(40)} ${(ratio(cold) + '×').padStart(6)} ${(ratio(warm) + '×').padStart(6)}`);
  lines.push(`${'.wasm bytes over the network'.padEnd(40)} ${cell(cold, 'wasmTransferBytes').padStart(6)} ${cell(warm, 'wasmTransferBytes').padStart(6)}`);
  return lines;
}

test('benchmark: start-up breakdown, cold and warm, vs native EventSource', async ({ browser, baseURL }) => {
  test.setTimeout(240_000);
  const channel = `bench:startup-${Date.now()}`;
  const after = await publish(baseURL!, channel, 'A');
  await publish(baseURL!, channel, 'B');

  const pw = await throughPlaywright(browser, baseURL!, channel, after);
  const lines = ['Through Playwright (DevTools attached):', ...table(pw.cold, pw.warm)];
  lines.push('V8 wasm code cache, traced warm loads:\n  ' + (await codeCacheEvents(browser, baseURL!, channel, after)));
  const bare = await withoutDevTools(baseURL!, channel, after);
  lines.push('', 'Without DevTools (a Chromium started by the test):', ...table(bare.cold, bare.warm));
  console.log('Duet start-up:\n' + lines.join('\n'));
  test.info().annotations.push({ type: 'benchmark', description: lines.join('\n') });
});
