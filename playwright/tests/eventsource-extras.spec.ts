// Duet's EventSource polyfill beyond the standard: the options a native
// EventSource ignores (headers refreshed on every attempt, method and body,
// a starting last event ID, backoff, a heartbeat watchdog), installing it as
// the global EventSource, and a real stream from the Duet server.
import { test, expect } from './fixtures';
import { StreamServer, openDuetPage, record } from './eventsource-helpers';

let server: StreamServer;

test.beforeAll(async () => {
  server = await StreamServer.start();
});

test.afterAll(async () => {
  await server?.stop();
});

test.use({ allowedConsoleErrors: [[/Failed to load resource/, /net::ERR_/, /favicon\.ico/], { scope: 'test' }] });

test.beforeEach(async ({ page }) => {
  await openDuetPage(page);
});

test('headers: a function is called before every attempt, and may return a promise', async ({ page }) => {
  const url = server.script(test.info().testId, [
    { chunks: ['retry: 20\nid: 1\ndata: a\n\n'] },
    { chunks: ['data: b\n\n'] },
    { chunks: ['data: c\n\n'], then: 'hang' },
  ]);
  const entries = await page.evaluate(
    (url) =>
      new Promise<string[]>((resolve) => {
        let n = 0;
        const es = new (window as any).Duet.EventSource(url, {
          headers: async () => {
            n++;
            await new Promise((r) => setTimeout(r, 5));
            return { Authorization: `Bearer token-${n}` };
          },
        });
        const log: string[] = [];
        es.onmessage = (e: MessageEvent) => {
          log.push(e.data);
          if (log.length === 3) {
            es.close();
            resolve(log);
          }
        };
      }),
    url,
  );
  expect(entries).toEqual(['a', 'b', 'c']);
  const seen = server.requests(test.info().testId);
  expect(seen.map((r) => r.authorization)).toEqual(['Bearer token-1', 'Bearer token-2', 'Bearer token-3']);
  expect(seen.map((r) => r.lastEventId)).toEqual([null, '1', '1']);
});

test('headers: a static object, a function that throws is retried', async ({ page }) => {
  const key = test.info().testId;
  const url = server.script(key, [{ chunks: ['retry: 20\ndata: a\n\n'] }, { chunks: ['data: b\n\n'], then: 'hang' }]);
  const log = await page.evaluate(
    (url) =>
      new Promise<string[]>((resolve) => {
        let n = 0;
        const log: string[] = [];
        const es = new (window as any).Duet.EventSource(url, {
          reconnectionTime: 20,
          headers: () => {
            n++;
            if (n === 2) throw new Error('token service down');
            return [['Authorization', `Bearer ${n}`]];
          },
        });
        es.onerror = () => log.push('error ' + es.readyState);
        es.onmessage = (e: MessageEvent) => {
          log.push(e.data);
          if (e.data === 'b') {
            es.close();
            resolve(log);
          }
        };
      }),
    url,
  );
  // a, the stream ends (error), the headers throw (error), b.
  expect(log).toEqual(['a', 'error 0', 'error 0', 'b']);
  expect(server.requests(key).map((r) => r.authorization)).toEqual(['Bearer 1', 'Bearer 3']);
});

test('method and body are sent with every attempt', async ({ page }) => {
  const key = test.info().testId;
  const url = server.script(key, [{ chunks: ['retry: 20\ndata: a\n\n'] }, { chunks: ['data: b\n\n'], then: 'hang' }]);
  const rec = await record(page, 'duet', {
    url,
    init: { method: 'POST', body: '{"channels":["x"]}', headers: { 'Content-Type': 'application/json' } },
    entries: 6,
  });
  expect(rec.entries.map((e) => e[0] + ' ' + e[1] + ' ' + e[2])).toEqual([
    'init 0 null',
    'open 1 null',
    'message 1 a',
    'error 0 null',
    'open 1 null',
    'message 1 b',
  ]);
  expect(server.requests(key).map((r) => `${r.method} ${r.body}`)).toEqual([
    'POST {"channels":["x"]}',
    'POST {"channels":["x"]}',
  ]);
});

test('lastEventId starts the first request from an id', async ({ page }) => {
  const key = test.info().testId;
  const url = server.script(key, [{ chunks: ['data: a\n\n'], then: 'hang' }]);
  const rec = await record(page, 'duet', { url, init: { lastEventId: '42-7' }, entries: 3 });
  expect(rec.entries[2]).toEqual(['message', 1, 'a', '42-7', server.origin]);
  expect(server.requests(key).map((r) => r.lastEventId)).toEqual(['42-7']);
});

test('heartbeatTimeout reconnects a silent connection; comments keep it alive', async ({ page }) => {
  const key = test.info().testId;
  const url = server.script(key, [
    // Comments every 100 ms for 2 s: alive, though no event comes.
    { chunks: ['retry: 20\n', ...Array(20).fill(':\n'), 'data: alive\n\n'], gapMs: 100, then: 'hang' },
    { chunks: ['data: again\n\n'], then: 'hang' },
  ]);
  const rec = await record(page, 'duet', { url, init: { heartbeatTimeout: 1000 }, entries: 6, timeoutMs: 10000 });
  expect(rec.entries.map((e) => `${e[0]} ${e[1]} ${e[2]}`)).toEqual([
    'init 0 null',
    'open 1 null',
    'message 1 alive',
    'error 0 null', // 1 s of silence after "alive"
    'open 1 null',
    'message 1 again',
  ]);
  const seen = server.requests(key);
  expect(seen.length).toBe(2);
});

test('backoff: growing, capped, jittered delays between failed attempts', async ({ page }) => {
  test.slow();
  const key = test.info().testId;
  // Every attempt: open, then the stream ends at once.
  const url = server.script(key, [{ chunks: [] }]);
  await page.evaluate(
    (url) =>
      new Promise<void>((resolve) => {
        let errors = 0;
        const es = new (window as any).Duet.EventSource(url, {
          backoff: { initialMs: 100, maxMs: 200, multiplier: 4, resetAfterMs: 60000 },
        });
        es.onerror = () => {
          if (++errors === 8) {
            es.close();
            resolve();
          }
        };
      }),
    url,
  );
  const at = server.requests(key).map((r) => r.at);
  const gaps = at.slice(1).map((t, i) => t - at[i]);
  test.info().annotations.push({ type: 'backoff gaps ms', description: gaps.join(', ') });
  expect(gaps.length).toBeGreaterThanOrEqual(7);
  // Ceilings 100, 200, 200, ... (x4 growth, capped at 200). A gap is the
  // wait plus the attempt's own time, so it is never below its wait.
  const ceilings = [100, 200, 200, 200, 200, 200, 200];
  const waits = gaps.slice(0, 7);
  // Capped: the seven sum to at most 1.3 s (+2 s for a loaded machine);
  // uncapped, the ceilings would be 100, 400, 1600, 6400... (tens of s).
  expect(waits.reduce((a, b) => a + b, 0), `sum of ${waits.join(', ')} ms`).toBeLessThan(1300 + 2000);
  // Jittered: full jitter draws each wait from [0, ceiling), so some gap is
  // well under its ceiling (all seven at 90% or more: about 1 in 10^6);
  // without jitter every gap would be at least its ceiling.
  expect(waits.some((g, i) => g < 0.9 * ceilings[i]), `gaps ${waits.join(', ')} ms all at their ceilings`).toBe(true);
});

test('bad options throw at construction', async ({ page }) => {
  const url = server.script(test.info().testId, [{ chunks: [], then: 'hang' }]);
  const errors = await page.evaluate((url) => {
    const C = (window as any).Duet.EventSource;
    const attempt = (init: unknown) => {
      try {
        new C(url, init).close();
        return 'ok';
      } catch (e) {
        return `${(e as Error).name}: ${(e as Error).message}`;
      }
    };
    return {
      getWithBody: attempt({ body: 'x' }),
      badHeartbeat: attempt({ heartbeatTimeout: -1 }),
      badBackoff: attempt({ backoff: 'fast' }),
      badHeaders: attempt({ headers: { 'bad header': 'x' } }),
      badInit: attempt(42),
      postWithBody: attempt({ method: 'POST', body: 'x' }),
    };
  }, url);
  expect(errors.getWithBody).toMatch(/^TypeError: duet\/eventsource: a GET request cannot have a body/);
  expect(errors.badHeartbeat).toMatch(/^TypeError: duet\/eventsource: heartbeatTimeout/);
  expect(errors.badBackoff).toMatch(/^TypeError: duet\/eventsource: backoff/);
  expect(errors.badHeaders).toMatch(/^TypeError: duet\/eventsource: headers/);
  expect(errors.badInit).toMatch(/^TypeError/);
  expect(errors.postWithBody).toBe('ok');
});

test('installEventSource keeps the native one unless asked to replace it', async ({ page }) => {
  const r = await page.evaluate(() => {
    const Duet = (window as any).Duet;
    const native = window.EventSource;
    const kept = Duet.installEventSource();
    const keptSame = window.EventSource === native;
    const replaced = Duet.installEventSource({ replace: true });
    const isDuet = window.EventSource === Duet.EventSource;
    window.EventSource = native;
    return { kept, keptSame, replaced, isDuet };
  });
  expect(r).toEqual({ kept: false, keptSame: true, replaced: true, isDuet: true });
});

test('a missing EventSource is installed', async ({ page }) => {
  const r = await page.evaluate(() => {
    const Duet = (window as any).Duet;
    const native = window.EventSource;
    delete (window as any).EventSource;
    const installed = Duet.installEventSource();
    const es = new EventSource('/rt/sse?channel=install');
    const ok = es instanceof Duet.EventSource && es instanceof EventTarget;
    es.close();
    window.EventSource = native;
    return { installed, ok };
  });
  expect(r).toEqual({ installed: true, ok: true });
});

test('a Duet server stream: published messages arrive, with ids, as on the native EventSource', async ({ page }) => {
  const channel = `es-${test.info().testId}`.slice(0, 100);
  const got = await page.evaluate(async (channel) => {
    const Duet = (window as any).Duet;
    const run = (C: typeof EventSource) =>
      new Promise<{ type: string; id: string; data: any; origin: string }[]>((resolve, reject) => {
        const es = new C(`/rt/sse?channel=${channel}`);
        const got: { type: string; id: string; data: any; origin: string }[] = [];
        const timer = setTimeout(() => reject(new Error('timed out: ' + JSON.stringify(got))), 10000);
        const on = (e: MessageEvent) => {
          got.push({ type: e.type, id: e.lastEventId, data: JSON.parse(e.data).data, origin: e.origin });
          if (got.length === 3) {
            clearTimeout(timer);
            es.close();
            resolve(got);
          }
        };
        es.addEventListener('message', on);
        es.addEventListener('custom', on);
        (window as any)[`open_${C === window.EventSource ? 'native' : 'duet'}`] = new Promise((r) =>
          es.addEventListener('open', r, { once: true }),
        );
      });
    const native = run(window.EventSource);
    const duet = run(Duet.EventSource);
    await Promise.all([(window as any).open_native, (window as any).open_duet]);
    for (const [event, data] of [['message', 1], ['custom', { two: 2 }], ['message', 'three']] as const) {
      const res = await fetch('/rt/publish', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ channel, event, data }),
      });
      if (!res.ok) throw new Error(`publish: ${res.status} ${await res.text()}`);
    }
    return { native: await native, duet: await duet };
  }, channel);
  expect(got.duet).toEqual(got.native);
  expect(got.duet.map((m) => m.data)).toEqual([1, { two: 2 }, 'three']);
  expect(got.duet[1].type).toBe('custom');
});
