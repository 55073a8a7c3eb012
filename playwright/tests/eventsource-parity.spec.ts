// Duet's EventSource polyfill against Chromium's native EventSource: the
// same byte streams, served by a Node server of the test's own (see
// eventsource-helpers.ts), must give the same events (type, data,
// lastEventId, origin), the same readyState at each, the same reconnects
// with the same Last-Event-ID headers, and the same failures.
import { test, expect } from './fixtures';
import { StreamServer, openDuetPage, record, type Answer, type RecordOptions } from './eventsource-helpers';

let server: StreamServer;

test.beforeAll(async () => {
  server = await StreamServer.start();
});

test.afterAll(async () => {
  await server?.stop();
});

// The native EventSource logs failed loads; so does the browser for the
// polyfill's fetches.
test.use({
  allowedConsoleErrors: [[/EventSource/, /Failed to load resource/, /net::ERR_/, /status of (201|204|404|500)/, /favicon\.ico/], { scope: 'test' }],
});

test.beforeEach(async ({ page }) => {
  await openDuetPage(page);
});

type Scenario = {
  name: string;
  answers: Answer[];
  entries: number; // stop after this many entries (the first is "init")
  types?: string[];
  init?: Record<string, unknown>;
  closeAtEntry?: number;
  /** How many requests the server must have seen (the native count is the reference either way). */
  requests?: number;
};

// retry: 30 keeps reconnecting scenarios quick; both implementations honour it.
const R = 'retry: 30\n';

const scenarios: Scenario[] = [
  {
    name: 'LF, CR and CRLF line endings',
    answers: [{ chunks: ['data: lf\n\n', 'data: cr\r\r', 'data: crlf\r\n\r\n', 'data: mixed\r\ndata: two\rdata: three\n\r\n'], then: 'hang' }],
    entries: 6,
  },
  {
    name: 'a CR at the end of a chunk, LF at the start of the next',
    answers: [{ chunks: ['data: a\r', '\ndata: b\r', '\n\r', '\n', 'data: c\r', '\r'], then: 'hang' }],
    entries: 4,
  },
  {
    name: 'byte order mark: dropped once at the start, kept later',
    answers: [{ chunks: ['\uFEFFdata: bom\n\n', '\uFEFFdata: not a field\n\ndata: after\n\n'], then: 'hang' }],
    entries: 4,
  },
  {
    name: 'a byte order mark cut into single bytes',
    answers: [{ chunks: [Buffer.from([0xef]), Buffer.from([0xbb]), Buffer.from([0xbf]), 'data: x\n\n'], gapMs: 20, then: 'hang' }],
    entries: 3,
  },
  {
    name: 'comments and unknown fields',
    answers: [{ chunks: [': hello\n:\n:: two\nfoo: bar\ndata: x\nbaz\n\n'], then: 'hang' }],
    entries: 3,
  },
  {
    name: 'multi-line data, empty data, spaces after the colon',
    answers: [
      {
        chunks: ['data: a\ndata:\ndata:  two spaces\n\n', 'data\n\n', 'data:\n\n', 'data:no space\n\n', 'data: trailing \n\n'],
        then: 'hang',
      },
    ],
    entries: 7,
  },
  {
    name: 'events without data are not dispatched',
    answers: [{ chunks: ['event: nothing\n\n', 'id: 1\n\n', '\n\n\n', 'data: only this\n\n'], then: 'hang' }],
    entries: 3,
  },
  {
    name: 'custom event names',
    answers: [
      {
        chunks: ['event: ping\ndata: 1\n\n', 'event:\ndata: 2\n\n', 'event: a b\ndata: 3\n\n', 'event: ping\nevent: pong\ndata: 4\n\n', 'data: 5\n\n'],
        then: 'hang',
      },
    ],
    types: ['ping', 'pong', 'a b'],
    entries: 7,
  },
  {
    name: 'ids: set, kept, with NUL ignored, cleared',
    answers: [
      {
        chunks: ['id: 1\ndata: a\n\n', 'data: b\n\n', 'id: 2\u0000x\ndata: c\n\n', 'id\ndata: d\n\n', 'id: 3\n\ndata: e\n\n', 'id:  spaced \ndata: f\n\n'],
        then: 'hang',
      },
    ],
    entries: 8,
  },
  {
    name: 'UTF-8: multi-byte characters cut apart, invalid bytes replaced',
    answers: [
      {
        chunks: [
          Buffer.from('data: é€😀', 'utf8').subarray(0, 8),
          Buffer.from('data: é€😀', 'utf8').subarray(8),
          '\n\n',
          Buffer.from([0x64, 0x61, 0x74, 0x61, 0x3a, 0x20, 0xff, 0x41, 0xe2, 0x82, 0x41, 0xf0, 0x9f, 0x98, 0x0a, 0x0a]),
          'data: \u0000nul\n\n',
        ],
        then: 'hang',
      },
    ],
    entries: 5,
  },
  {
    name: 'everything, one byte at a time',
    answers: [
      {
        chunks: [
          '\uFEFF: comment\r\n',
          'retry: 30\r',
          'id: 7\nevent: tick\ndata: one\r\ndata: two\n\n',
          'data: é€😀\r\n\r\n',
          'id: 8\u0000\ndata\n\n',
          'event: tick\ndata: last\n\n',
        ],
        byteByByte: true,
        then: 'hang',
      },
    ],
    types: ['tick'],
    entries: 6,
  },
  {
    name: 'an unfinished event is dropped when the stream ends; Last-Event-ID on reconnect',
    answers: [
      { chunks: [R + 'id: abc\ndata: 1\n\n', 'id: xyz\ndata: unfinished'] },
      { chunks: ['data: 2\n\n'] },
      { chunks: ['id: 3\ndata: 3\n\n'], then: 'hang' },
    ],
    entries: 9, // init open msg error open msg error open msg
    requests: 3,
  },
  {
    name: 'retry: only digits count',
    answers: [
      { chunks: ['retry: 30\nretry: 1x\nretry:\nretry: -5\nid: r\ndata: 1\n\n'] },
      { chunks: ['data: 2\n\n'], then: 'hang' },
    ],
    entries: 6,
    requests: 2,
  },
  {
    name: 'an empty id clears Last-Event-ID',
    answers: [{ chunks: [R + 'id: a\ndata: 1\n\nid\ndata: 2\n\n'] }, { chunks: ['data: 3\n\n'], then: 'hang' }],
    entries: 7,
    requests: 2,
  },
  {
    name: 'reconnect when the connection drops',
    answers: [{ chunks: [R + 'id: d\ndata: 1\n\n'], then: 'destroy' }, { chunks: ['data: 2\n\n'], then: 'hang' }],
    entries: 6,
    requests: 2,
  },
  {
    name: 'reconnect when the stream ends with nothing',
    answers: [{ chunks: [R] }, { chunks: [] }, { chunks: ['data: third\n\n'], then: 'hang' }],
    entries: 7,
    requests: 3,
  },
  {
    name: 'fail on 404: no reconnect',
    answers: [{ status: 404, contentType: 'text/event-stream', chunks: ['data: x\n\n'] }],
    entries: 10,
    requests: 1,
  },
  {
    name: 'fail on 500',
    answers: [{ status: 500, contentType: 'text/plain', chunks: ['oops'] }],
    entries: 10,
    requests: 1,
  },
  {
    name: 'fail on 204 No Content',
    answers: [{ status: 204 }],
    entries: 10,
    requests: 1,
  },
  {
    name: 'fail on 201',
    answers: [{ status: 201, chunks: ['data: x\n\n'] }],
    entries: 10,
    requests: 1,
  },
  {
    name: 'fail on a wrong Content-Type',
    answers: [{ contentType: 'text/plain', chunks: ['data: x\n\n'] }],
    entries: 10,
    requests: 1,
  },
  {
    name: 'fail on a missing Content-Type',
    answers: [{ contentType: null, chunks: ['data: x\n\n'] }],
    entries: 10,
    requests: 1,
  },
  {
    name: 'Content-Type with parameters and in upper case',
    answers: [{ contentType: 'Text/Event-Stream; charset=UTF-8', chunks: ['data: ok\n\n'], then: 'hang' }],
    entries: 3,
  },
  {
    name: 'Content-Type with a charset other than UTF-8',
    answers: [{ contentType: 'text/event-stream; charset=iso-8859-1', chunks: ['data: ok\n\n'], then: 'hang' }],
    entries: 3,
  },
  {
    name: 'fail on a reconnect answered 404',
    answers: [{ chunks: [R + 'id: 1\ndata: 1\n\n'] }, { status: 404 }],
    entries: 10,
    requests: 2,
  },
  {
    name: 'close() from a message listener stops everything',
    answers: [{ chunks: ['data: 1\n\ndata: 2\n\ndata: 3\n\n'] }],
    entries: 10,
    closeAtEntry: 2,
    requests: 1,
  },
  {
    name: 'close() from the open listener',
    answers: [{ chunks: ['data: 1\n\n'] }],
    entries: 10,
    closeAtEntry: 1,
    requests: 1,
  },
];

for (const sc of scenarios) {
  test(`parity: ${sc.name}`, async ({ page }) => {
    const key = test.info().testId;
    const opts = (which: string): RecordOptions => ({
      url: server.script(`${key}-${which}`, sc.answers),
      entries: sc.entries,
      types: sc.types,
      init: sc.init,
      closeAtEntry: sc.closeAtEntry,
      timeoutMs: 6000,
    });
    const nativeOpts = opts('native');
    const duetOpts = opts('duet');
    const [native, duet] = await Promise.all([record(page, 'native', nativeOpts), record(page, 'duet', duetOpts)]);
    test.info().annotations.push({ type: 'native', description: JSON.stringify(native.entries) });

    expect(duet.entries, 'polyfill events vs native').toEqual(native.entries);
    expect(duet.timedOut, 'polyfill timed out').toBe(native.timedOut);

    const lastIds = (which: string) => server.requests(`${key}-${which}`).map((r) => r.lastEventId);
    expect(lastIds('duet'), 'Last-Event-ID of each request').toEqual(lastIds('native'));
    if (sc.requests !== undefined) expect(lastIds('native').length, 'requests (native)').toBe(sc.requests);
    for (const r of server.requests(`${key}-duet`)) {
      expect(r.accept, 'Accept').toBe('text/event-stream');
      expect(r.method).toBe('GET');
    }
  });
}

test('parity: origin of the messages and url after a redirect', async ({ page }) => {
  const key = test.info().testId;
  const target = server.script(`${key}-target`, [{ chunks: ['data: moved\n\n'], then: 'hang' }]);
  // The redirect is served by the real server's origin? No: by the stream
  // server, to itself, so both implementations follow the same hop.
  const redirect = server.script(`${key}-redirect`, [{ status: 307, contentType: null, headers: { Location: target } }]);
  const o = { url: redirect, entries: 3, timeoutMs: 5000 };
  const [native, duet] = await Promise.all([record(page, 'native', o), record(page, 'duet', o)]);
  expect(duet.entries).toEqual(native.entries);
  expect(native.entries[2][4]).toBe(server.origin);
});

test('parity: after a redirect, reconnects to where the redirect led', async ({ page }) => {
  const key = test.info().testId;
  const opts = (which: string): RecordOptions => {
    const target = server.script(`${key}-${which}-target`, [
      { chunks: [R + 'id: 1\ndata: one\n\n'] },
      { chunks: ['data: two\n\n'], then: 'hang' },
    ]);
    const redirect = server.script(`${key}-${which}-redirect`, [{ status: 307, contentType: null, headers: { Location: target } }]);
    return { url: redirect, entries: 6, timeoutMs: 6000 };
  };
  const [native, duet] = await Promise.all([record(page, 'native', opts('native')), record(page, 'duet', opts('duet'))]);
  expect(duet.entries, 'polyfill events vs native').toEqual(native.entries);
  expect(native.entries.map((e) => e[0])).toEqual(['init', 'open', 'message', 'error', 'open', 'message']);
  for (const which of ['native', 'duet']) {
    expect(server.requests(`${key}-${which}-redirect`).length, `${which}: requests through the redirect`).toBe(1);
    expect(server.requests(`${key}-${which}-target`).map((r) => r.lastEventId), `${which}: Last-Event-ID at the target`).toEqual([null, '1']);
  }
});

test('parity: a non-ASCII last event id goes out as its UTF-8 bytes', async ({ page }) => {
  const key = test.info().testId;
  const id = 'é€😀';
  const answers: Answer[] = [{ chunks: [R + `id: ${id}\ndata: one\n\n`] }, { chunks: ['data: two\n\n'], then: 'hang' }];
  const opts = (which: string): RecordOptions => ({ url: server.script(`${key}-${which}`, answers), entries: 6, timeoutMs: 6000 });
  const [native, duet] = await Promise.all([record(page, 'native', opts('native')), record(page, 'duet', opts('duet'))]);
  expect(duet.entries, 'polyfill events vs native').toEqual(native.entries);
  expect(native.entries[2][3], 'lastEventId of the message').toBe(id);
  // Node gives header values one character per byte (latin1).
  const utf8Bytes = Buffer.from(id, 'utf8').toString('latin1');
  for (const which of ['native', 'duet']) {
    expect(server.requests(`${key}-${which}`).map((r) => r.lastEventId), `${which}: Last-Event-ID bytes`).toEqual([null, utf8Bytes]);
  }
});

// The starting id of the polyfill's extra init.lastEventId (the native
// EventSource has none) follows the same rule.
test('polyfill: a non-ASCII init.lastEventId goes out as its UTF-8 bytes', async ({ page }) => {
  const key = test.info().testId;
  const url = server.script(key, [{ chunks: ['data: one\n\n'], then: 'hang' }]);
  const init = { lastEventId: 'ß-ид', headers: { Authorization: 'Bearer é' } };
  const duet = await record(page, 'duet', { url, init, entries: 3, timeoutMs: 6000 });
  expect(duet.entries.map((e) => e[0])).toEqual(['init', 'open', 'message']);
  const [req] = server.requests(key);
  expect(req.lastEventId).toBe(Buffer.from('ß-ид', 'utf8').toString('latin1'));
  // A header the page gives is a ByteString already: it goes out as fetch
  // sends it, one byte per character (é is the byte E9).
  expect(req.authorization).toBe('Bearer é');
});

test('parity: the interface', async ({ page }) => {
  const url = server.script(`${test.info().testId}`, [{ chunks: [], then: 'hang' }]);
  const describe = (which: 'native' | 'duet', url: string) =>
    page.evaluate(
      ({ which, url }) => {
        const C: typeof EventSource = which === 'native' ? window.EventSource : (window as any).Duet.EventSource;
        const es = new C(url, { withCredentials: true });
        const rel = new C('/some/relative?path#frag');
        const r = {
          instanceOfEventTarget: es instanceof EventTarget,
          toString: Object.prototype.toString.call(es),
          constants: [C.CONNECTING, C.OPEN, C.CLOSED, es.CONNECTING, es.OPEN, es.CLOSED],
          url: es.url,
          relativeURL: rel.url,
          withCredentials: [es.withCredentials, rel.withCredentials],
          readyState: es.readyState,
          handlers: [es.onopen, es.onmessage, es.onerror],
          protoKeys: Object.getOwnPropertyNames(C.prototype).sort(),
          staticKeys: ['CONNECTING', 'OPEN', 'CLOSED'].filter((k) => Object.prototype.hasOwnProperty.call(C, k)),
          length: C.length,
          noArgs: (() => {
            try {
              new (C as any)();
              return 'no error';
            } catch (e) {
              return (e as Error).name;
            }
          })(),
          badURL: (() => {
            try {
              new C('http://[::1');
              return 'no error';
            } catch (e) {
              return (e as Error).name + (e instanceof DOMException ? ' (DOMException)' : '');
            }
          })(),
          handlerRoundTrip: (() => {
            const f = () => {};
            es.onmessage = f;
            const same = es.onmessage === f;
            es.onmessage = 'not a function' as any;
            const coerced = es.onmessage;
            es.onmessage = null;
            return [same, coerced, es.onmessage];
          })(),
        };
        es.close();
        rel.close();
        const closed = es.readyState;
        return { ...r, afterClose: closed };
      },
      { which, url },
    );
  const native = await describe('native', url);
  const duet = await describe('duet', url);
  expect(duet).toEqual(native);
});

test('parity: event handler attributes fire in registration order with addEventListener', async ({ page }) => {
  const key = test.info().testId;
  const run = (which: 'native' | 'duet', url: string) =>
    page.evaluate(
      ({ which, url }) =>
        new Promise<string[]>((resolve) => {
          const C: typeof EventSource = which === 'native' ? window.EventSource : (window as any).Duet.EventSource;
          const es = new C(url);
          const log: string[] = [];
          es.addEventListener('message', () => log.push('listener 1'));
          es.onmessage = (e) => log.push('onmessage ' + e.data);
          es.addEventListener('message', () => log.push('listener 2'));
          es.onmessage = function (this: EventSource, e: MessageEvent) {
            log.push('onmessage replaced ' + e.data + ' this ok=' + (this === es));
            if (e.data === '2') {
              es.close();
              setTimeout(() => resolve(log), 100);
            }
          };
          es.onopen = () => log.push('onopen, readyState ' + es.readyState);
          es.onerror = () => log.push('onerror');
        }),
      { which, url },
    );
  const answers: Answer[] = [{ chunks: ['data: 1\n\ndata: 2\n\ndata: 3\n\n'], then: 'hang' }];
  const native = await run('native', server.script(`${key}-native`, answers));
  const duet = await run('duet', server.script(`${key}-duet`, answers));
  expect(duet).toEqual(native);
});

test('parity: reconnection time default is honoured (no retry field)', async ({ page }) => {
  test.slow();
  const key = test.info().testId;
  const answers: Answer[] = [{ chunks: ['data: 1\n\n'] }, { chunks: ['data: 2\n\n'], then: 'hang' }];
  const o = (which: string) => ({ url: server.script(`${key}-${which}`, answers), entries: 6, timeoutMs: 10000 });
  const [native, duet] = await Promise.all([record(page, 'native', o('native')), record(page, 'duet', o('duet'))]);
  expect(duet.entries).toEqual(native.entries);
  const gap = (which: string) => {
    const r = server.requests(`${key}-${which}`);
    return r[1].at - r[0].at;
  };
  test.info().annotations.push({ type: 'reconnect gap ms', description: `native ${gap('native')}, duet ${gap('duet')}` });
  // Chromium waits 3 s; so does the polyfill. Loose bounds: timers are not exact.
  expect(gap('duet')).toBeGreaterThan(2500);
  expect(Math.abs(gap('duet') - gap('native'))).toBeLessThan(1500);
});
