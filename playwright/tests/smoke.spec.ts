// Smoke test: the demo page loads, and one published message reaches a
// browser's native EventSource and native WebSocket, with no Duet code in
// the page involved: both wires carry the same envelope with the same id.
import { test, expect } from './fixtures';

type Envelope = { id: string; channel: string; event: string; data: unknown; ts: number };

test('a published message reaches native EventSource and WebSocket with the same id and data', async ({
  page,
  consoleErrors,
}) => {
  const response = await page.goto('/');
  expect(response?.status(), 'GET /').toBe(200);

  const got = await page.evaluate(
    async ({ channel, timeoutMs }) => {
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      // Each step gets at most timeoutMs; on a timeout the loops below stop too.
      let stopped = false;
      const within = <T>(what: string, p: Promise<T>): Promise<T> => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            stopped = true;
            reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
          }, timeoutMs);
        });
        return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
      };
      const until = async (what: string, cond: () => boolean) => {
        while (!cond()) {
          if (stopped) throw new Error(`gave up waiting for ${what}`);
          await sleep(20);
        }
      };
      const publish = async (event: string, data: unknown): Promise<string> => {
        const res = await fetch('/rt/publish', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ channel, event, data }),
        });
        const body = await res.text();
        if (res.status !== 200) throw new Error(`POST /rt/publish: ${res.status} ${body}`);
        return JSON.parse(body).id;
      };

      const sse: { lastEventId: string; envelope: Envelope }[] = [];
      const ws: Envelope[] = [];
      let sseProbe = false;
      let wsProbe = false;
      const sseErrors: string[] = [];
      const wsFrames: string[] = [];

      const es = new EventSource(`/rt/sse?channel=${encodeURIComponent(channel)}`);
      const esOpen = new Promise<void>((resolve, reject) => {
        es.addEventListener('open', () => resolve(), { once: true });
        es.addEventListener('error', () => {
          sseErrors.push(`error event, readyState ${es.readyState}`);
          if (es.readyState === EventSource.CLOSED) reject(new Error('EventSource closed: ' + sseErrors.join('; ')));
        });
      });
      es.addEventListener('hello', (e) => {
        const m = e as MessageEvent<string>;
        sse.push({ lastEventId: m.lastEventId, envelope: JSON.parse(m.data) });
      });
      es.addEventListener('probe', () => (sseProbe = true));

      const sock = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/rt/ws`, 'duet.v1');
      const wsOpen = new Promise<void>((resolve, reject) => {
        sock.addEventListener('open', () => resolve(), { once: true });
        sock.addEventListener('error', () => reject(new Error('WebSocket error before open')), { once: true });
        sock.addEventListener('close', (e) => reject(new Error(`WebSocket closed: ${e.code} ${e.reason}`)), { once: true });
      });
      sock.addEventListener('message', (e) => {
        wsFrames.push(String(e.data).slice(0, 300));
        const f = JSON.parse(e.data);
        if (f.type !== 'message' || f.channel !== channel) return;
        if (f.event === 'hello') {
          const { type: _type, ...envelope } = f;
          ws.push(envelope);
        }
        if (f.event === 'probe') wsProbe = true;
      });

      try {
        await within('WebSocket open', wsOpen);
        const protocol = sock.protocol;
        sock.send(JSON.stringify({ type: 'subscribe', channels: [channel] }));
        await within('EventSource open', esOpen);

        // Both subscriptions complete asynchronously on the server. Publish
        // probes until each wire has delivered one, so the message under test
        // cannot race a subscription that is not in place yet.
        await within(
          'a probe message on both wires (subscriptions in place)',
          (async () => {
            while (!(sseProbe && wsProbe)) {
              if (stopped) return;
              await publish('probe', {});
              await sleep(100);
            }
          })(),
        );

        const id = await within('POST /rt/publish', publish('hello', { n: 1 }));
        await within('the message on both wires', until('hello', () => sse.length > 0 && ws.length > 0));
        return { protocol, id, sse, ws };
      } catch (err) {
        throw new Error(`${err}\nSSE errors: ${sseErrors.join('; ') || 'none'}\nWS frames: ${wsFrames.join('\n  ') || 'none'}`);
      } finally {
        stopped = true;
        es.close();
        sock.close(1000);
      }
    },
    { channel: 'smoke', timeoutMs: 5_000 },
  );

  expect(got.protocol, 'negotiated WebSocket subprotocol').toBe('duet.v1');
  expect(got.id, 'id returned by POST /rt/publish').toBeTruthy();

  expect(got.sse, 'hello events received over SSE').toHaveLength(1);
  expect(got.ws, 'hello messages received over WebSocket').toHaveLength(1);
  const [sse] = got.sse;
  const [ws] = got.ws;

  expect(sse.lastEventId, 'SSE id: field').toBe(got.id);
  expect(sse.envelope).toMatchObject({ id: got.id, channel: 'smoke', event: 'hello', data: { n: 1 } });
  expect(ws).toMatchObject({ id: got.id, channel: 'smoke', event: 'hello', data: { n: 1 } });
  expect(typeof sse.envelope.ts).toBe('number');
  // The same envelope on both wires.
  expect(ws).toEqual(sse.envelope);

  expect(consoleErrors, 'console errors on the page').toEqual([]);
});
