// Helpers for the EventSource polyfill specs (eventsource-*.spec.ts): a raw
// event-stream server of the test's own, and a recorder that runs the same
// scenario against the browser's native EventSource and Duet's polyfill.
//
// The stream server is a Node http server on 127.0.0.1 (a free port) that
// the test fully controls: the exact bytes, how they are cut (down to one
// byte per write), statuses, content types, and a different answer for
// each reconnection attempt. The page itself comes from the real server
// (baseURL), so the streams are cross-origin and the server answers CORS,
// preflights included (the polyfill's Last-Event-ID and custom headers are
// not CORS-safelisted; the native EventSource is exempt).
import type { Page } from '@playwright/test';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One answer of the stream server. */
export type Answer = {
  status?: number; // default 200
  contentType?: string | null; // default text/event-stream; null: no header
  headers?: Record<string, string>;
  /** The body, written piece by piece. Strings are UTF-8; Buffers are raw. */
  chunks?: (string | Buffer)[];
  /** Cut every chunk into single bytes, each its own write. */
  byteByByte?: boolean;
  /** Pause between writes, ms. Default 0 (1 when byteByByte). */
  gapMs?: number;
  /** After the body: "end" the response (default), "hang" until the client goes, or "destroy" the socket. */
  then?: 'end' | 'hang' | 'destroy';
};

/** What the stream server saw of one request. */
export type Seen = {
  method: string;
  lastEventId: string | null;
  accept: string | null;
  authorization: string | null;
  body: string;
  at: number;
};

/**
 * StreamServer answers /s/<key> with the answers registered for key, one
 * per request (the last one repeats), and records what it saw.
 */
export class StreamServer {
  private server: http.Server;
  private scripts = new Map<string, Answer[]>();
  private seen = new Map<string, Seen[]>();
  private open = new Set<http.ServerResponse>();
  port = 0;

  private constructor() {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  static async start(): Promise<StreamServer> {
    const s = new StreamServer();
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.port = (s.server.address() as AddressInfo).port;
    return s;
  }

  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Registers the answers for key and returns the stream's URL. */
  script(key: string, answers: Answer[]): string {
    this.scripts.set(key, answers);
    this.seen.set(key, []);
    return `${this.origin}/s/${encodeURIComponent(key)}`;
  }

  /** The requests key got, preflights left out. */
  requests(key: string): Seen[] {
    return this.seen.get(key) ?? [];
  }

  async stop() {
    for (const res of this.open) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse) {
    req.socket.setNoDelay(true);
    const origin = req.headers.origin;
    const cors: Record<string, string> = {
      'Access-Control-Allow-Origin': origin ?? '*',
      'Access-Control-Allow-Credentials': 'true',
      Vary: 'Origin',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...cors,
        'Access-Control-Allow-Methods': 'GET, POST, PUT',
        'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? '',
        'Access-Control-Max-Age': '0',
      });
      res.end();
      return;
    }
    const m = /^\/s\/([^/?]+)/.exec(req.url ?? '');
    const key = m ? decodeURIComponent(m[1]) : '';
    const answers = this.scripts.get(key);
    if (!answers) {
      res.writeHead(404, cors);
      res.end('no such stream');
      return;
    }
    const seen = this.seen.get(key)!;
    const index = Math.min(seen.length, answers.length - 1);
    const a = answers[index];
    const body: Buffer[] = [];
    req.on('data', (b: Buffer) => body.push(b));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        lastEventId: (req.headers['last-event-id'] as string | undefined) ?? null,
        accept: (req.headers['accept'] as string | undefined) ?? null,
        authorization: (req.headers['authorization'] as string | undefined) ?? null,
        body: Buffer.concat(body).toString(),
        at: Date.now(),
      });
      void this.answer(a, cors, res);
    });
  }

  private async answer(a: Answer, cors: Record<string, string>, res: http.ServerResponse) {
    const headers: Record<string, string> = { ...cors, 'Cache-Control': 'no-store', ...(a.headers ?? {}) };
    const ct = a.contentType === undefined ? 'text/event-stream' : a.contentType;
    if (ct !== null) headers['Content-Type'] = ct;
    res.writeHead(a.status ?? 200, headers);
    res.flushHeaders();
    this.open.add(res);
    res.on('close', () => this.open.delete(res));
    let pieces: Buffer[] = (a.chunks ?? []).map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c));
    if (a.byteByByte) pieces = pieces.flatMap((p) => [...p].map((b) => Buffer.from([b])));
    const gap = a.gapMs ?? (a.byteByByte ? 1 : 0);
    for (const p of pieces) {
      if (res.destroyed) return;
      res.write(p);
      if (gap > 0) await new Promise((r) => setTimeout(r, gap));
    }
    switch (a.then ?? 'end') {
      case 'end':
        res.end();
        break;
      case 'destroy':
        res.socket?.destroy();
        break;
      case 'hang':
        break;
    }
  }
}

/**
 * A page of the real server's origin, with Duet loaded as window.Duet. It
 * is a page the server really serves (its health check): a page fulfilled
 * by page.route has no address, so Chromium's Local Network Access would
 * count it as public and refuse its requests to the loopback stream server.
 */
export async function openDuetPage(page: Page): Promise<void> {
  // healthz has no icon: answer the browser's request for one, or it logs a 404.
  await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204 }));
  await page.goto('/rt/healthz');
  await page.evaluate(async () => {
    const mod = await import('/duet.js' as string);
    (window as any).Duet = await mod.loadDuet();
  });
}

/** One recorded event: [type, readyState, data, lastEventId, origin]. */
export type Entry = [string, number, string | null, string | null, string | null];

export type Recording = { entries: Entry[]; timedOut: boolean };

export type RecordOptions = {
  url: string;
  /** The second argument of the constructor. */
  init?: Record<string, unknown>;
  /** Event types listened to besides open, message and error. */
  types?: string[];
  /** Stop (close) after this many entries... */
  entries: number;
  /** ...or when an error leaves the source CLOSED, or after this many ms. */
  timeoutMs?: number;
  /** Close from inside the listener of the entry with this index. */
  closeAtEntry?: number;
};

/**
 * record runs one scenario in the page with the native EventSource
 * (which = "native") or Duet's (which = "duet") and returns what was
 * dispatched. The first entry is ["init", readyState right after new].
 */
export async function record(page: Page, which: 'native' | 'duet', o: RecordOptions): Promise<Recording> {
  return page.evaluate(
    ({ which, o }) =>
      new Promise<Recording>((resolve) => {
        const Ctor = which === 'native' ? window.EventSource : (window as any).Duet.EventSource;
        const entries: Entry[] = [];
        const es: EventSource = o.init === undefined ? new Ctor(o.url) : new Ctor(o.url, o.init);
        entries.push(['init', es.readyState, null, null, null]);
        let done = false;
        const finish = (timedOut: boolean) => {
          if (done) return;
          done = true;
          es.close();
          clearTimeout(timer);
          // Anything dispatched after close would show up here.
          setTimeout(() => resolve({ entries, timedOut }), 50);
        };
        const timer = setTimeout(() => finish(true), o.timeoutMs ?? 5000);
        const listener = (e: Event) => {
          if (done) {
            entries.push(['AFTER-CLOSE:' + e.type, es.readyState, null, null, null]);
            return;
          }
          const m = e as MessageEvent;
          entries.push([
            e.type,
            es.readyState,
            e instanceof MessageEvent ? m.data : null,
            e instanceof MessageEvent ? m.lastEventId : null,
            e instanceof MessageEvent ? m.origin : null,
          ]);
          if (o.closeAtEntry === entries.length - 1) {
            es.close();
            setTimeout(() => finish(false), 300);
            return;
          }
          if (entries.length >= o.entries || (e.type === 'error' && es.readyState === 2)) {
            // A failed source must stay failed: wait a little for a stray reconnect.
            setTimeout(() => finish(false), e.type === 'error' && es.readyState === 2 ? 300 : 0);
          }
        };
        for (const t of ['open', 'message', 'error', ...(o.types ?? [])]) es.addEventListener(t, listener);
      }),
    { which, o },
  );
}
