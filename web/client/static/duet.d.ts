// TypeScript declarations of Duet's browser API, as served at /duet.js.
//
//   const Duet = await (await import("/duet.js")).loadDuet();
//
// Served by the Duet server as /static/duet.d.ts. To type a dynamic
// import, declare the module in your project:
//
//   declare module "/duet.js" { export * from "./duet"; }   // with this file saved as duet.d.ts

/** Options of {@link loadDuet}. */
export interface LoadOptions {
  /** Where the WebAssembly module is. Defaults to the content-hashed module next to duet.js (static/duet.<hash>.wasm). */
  wasmURL?: string | URL;
  /** Where the matching wasm_exec.js is. Defaults to static/wasm_exec.js next to duet.js. */
  wasmExecURL?: string | URL;
}

/**
 * Loads and starts the WebAssembly module, once per page, and resolves with
 * the API. Later calls return the same promise; a failed load may be retried.
 * Rejects when the module is missing (the server says "run go tool task build").
 */
export function loadDuet(options?: LoadOptions): Promise<Duet>;

/** The API {@link loadDuet} resolves with. Frozen. */
export interface Duet {
  /** The client's version ("dev" unless set at build time). */
  readonly version: string;
  /** Milliseconds loadDuet took: fetching, compiling and starting the module. */
  readonly loadTimeMs: number;
  /** The EventSource polyfill: the WHATWG interface, plus extras in its options. */
  readonly EventSource: DuetEventSourceConstructor;
  /**
   * Sets globalThis.EventSource to the polyfill where the browser has none,
   * or always with {replace: true}. Returns whether it did.
   */
  installEventSource(options?: { replace?: boolean }): boolean;
  /**
   * Connects to a Duet server: one reconnecting, resuming connection over
   * WebSocket or SSE, shared by the tabs of the origin.
   *
   * @param baseURL where the server's /rt/ endpoints hang, resolved against the page ("" or "/" for the page's own origin).
   * @throws TypeError for a bad argument or option.
   */
  connect(baseURL: string, options?: ConnectOptions): Connection;
}

// --- EventSource ------------------------------------------------------------

/** Request headers: as fetch takes them. */
export type HeadersLike = Record<string, string> | [string, string][] | Headers;

/**
 * The polyfill's constructor options. withCredentials is the standard's;
 * the rest are extras a native EventSource ignores.
 */
export interface DuetEventSourceInit extends EventSourceInit {
  /** Send cookies and HTTP authentication cross-origin (fetch credentials "include"). Default false. */
  withCredentials?: boolean;
  /**
   * Extra request headers. A function is called before every connection
   * attempt, reconnections included, so credentials can be refreshed; it may
   * return a promise. A function that throws or rejects counts as a network
   * error: the attempt is retried. Cross-origin, these (and Last-Event-ID)
   * make the browser send a CORS preflight.
   */
  headers?: HeadersLike | (() => HeadersLike | undefined | Promise<HeadersLike | undefined>);
  /** The request method. Default "GET". */
  method?: string;
  /** The request body, sent with every attempt; not allowed with GET or HEAD. */
  body?: BodyInit;
  /** Start from this last event ID: sent as Last-Event-ID from the first request on. Default none. */
  lastEventId?: string;
  /** The reconnection time, ms, until the stream sends a retry field. Default 3000, as Chromium. */
  reconnectionTime?: number;
  /**
   * Replace the fixed reconnection time by growing delays with full jitter
   * and a cap. true takes the defaults; initialMs defaults to the
   * reconnection time (so the stream's retry field still steers it).
   */
  backoff?: boolean | BackoffOptions;
  /** Reconnect when no bytes (comments count) arrive for this many ms; also bounds the wait for the response. Default 0: off. */
  heartbeatTimeout?: number;
  /** Fail the connection on a line longer than this many bytes. Default 0: no limit. */
  maxLineBytes?: number;
  /** Fail the connection on an event whose data is longer than this many bytes. Default 0: no limit. */
  maxEventBytes?: number;
}

/** Reconnect backoff: attempt n waits a uniform random time in [0, min(maxMs, initialMs·multiplier^n)). */
export interface BackoffOptions {
  /** Default 500 for Duet.connect; for EventSource, the reconnection time. */
  initialMs?: number;
  /** Default 30000. */
  maxMs?: number;
  /** Default 2; at least 1. */
  multiplier?: number;
  /** A connection up this long resets the growth. Default 10000. */
  resetAfterMs?: number;
}

export interface DuetEventSourceEventMap {
  open: Event;
  message: MessageEvent<string>;
  error: Event;
}

/**
 * The WHATWG EventSource, on fetch and ReadableStream. Events are real
 * MessageEvents with data, origin and lastEventId; an error event with
 * readyState CONNECTING means it reconnects, with CLOSED that it failed
 * (a status other than 200, a Content-Type other than text/event-stream
 * with a UTF-8 or no charset).
 */
export interface DuetEventSource extends EventTarget {
  /** The resolved, absolute URL. */
  readonly url: string;
  readonly withCredentials: boolean;
  /** 0 CONNECTING, 1 OPEN, 2 CLOSED. */
  readonly readyState: number;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSED: 2;
  onopen: ((this: DuetEventSource, ev: Event) => any) | null;
  onmessage: ((this: DuetEventSource, ev: MessageEvent<string>) => any) | null;
  onerror: ((this: DuetEventSource, ev: Event) => any) | null;
  /** Aborts the connection; no event is dispatched afterwards. */
  close(): void;
  addEventListener<K extends keyof DuetEventSourceEventMap>(
    type: K,
    listener: (this: DuetEventSource, ev: DuetEventSourceEventMap[K]) => any,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /** Events named by the stream's event field. */
  addEventListener(
    type: string,
    listener: (this: DuetEventSource, ev: MessageEvent<string>) => any,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof DuetEventSourceEventMap>(
    type: K,
    listener: (this: DuetEventSource, ev: DuetEventSourceEventMap[K]) => any,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: (this: DuetEventSource, ev: MessageEvent<string>) => any,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | EventListenerOptions): void;
}

export interface DuetEventSourceConstructor {
  /**
   * @throws SyntaxError (a DOMException) when url cannot be parsed.
   * @throws TypeError for a bad extra option.
   */
  new (url: string | URL, eventSourceInitDict?: DuetEventSourceInit): DuetEventSource;
  readonly prototype: DuetEventSource;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSED: 2;
}

// --- connect ----------------------------------------------------------------

/** Query parameters, as URLSearchParams takes them. */
export type ParamsLike = Record<string, string> | [string, string][] | URLSearchParams;

/** Options of {@link Duet.connect}. All optional. */
export interface ConnectOptions {
  /** The wire. "auto" (default): WebSocket, SSE when WebSocket cannot open. */
  transport?: "auto" | "websocket" | "sse";
  /** Channels subscribed from the start, without a handler (see on("message")). */
  channels?: string[];
  /** Resume after this id. At most 164 bytes (UTF-8): a longer one makes connect throw a TypeError. */
  lastEventId?: string;
  /**
   * Sent with SSE requests and publish POSTs. A function is called again when
   * the server asks for fresh credentials (close code 4401).
   */
  headers?: HeadersLike | (() => HeadersLike | Promise<HeadersLike>);
  /**
   * A bearer token, or a function returning one (or a promise of one). The
   * function is called before every connection attempt, reconnections
   * included, so it decides when to fetch a new token; the server closes a
   * connection whose token expired with 4401, and the client calls it again,
   * reconnects and resumes from the last id, losing nothing. Sent as
   * `Authorization: Bearer <token>` on SSE requests and publish POSTs, and
   * in the WebSocket's subprotocol list (`duet.bearer.<base64url token>`
   * beside `duet.v1`), since a browser WebSocket cannot carry headers. A
   * publish refused with 401 gets a fresh token and is sent once more.
   */
  token?: string | (() => string | Promise<string>);
  /** Query parameters added to every URL (a token in the URL ends up in logs: prefer `token`). */
  params?: ParamsLike | (() => ParamsLike | Promise<ParamsLike>);
  /** Send cookies cross-origin (fetch credentials "include"). Default false. */
  withCredentials?: boolean;
  backoff?: BackoffOptions;
  /** ms without anything from the server before reconnecting. Default 2.5 × the server's heartbeat. */
  heartbeatTimeout?: number;
  /** ms from dialing to the server's hello. Default 10000. */
  connectTimeout?: number;
  /** ms from publish() to the ack, waiting for a connection included. Default 30000. */
  publishTimeout?: number;
  /** With transport "auto": ms on SSE before trying WebSocket again (doubles, ×32 at most). Default 60000. */
  wsRetryAfter?: number;
  /**
   * One connection for the tabs of the origin. Default true where
   * BroadcastChannel and Web Locks exist; false: this tab connects alone.
   *
   * Tabs share only with tabs asking for the same `transport` and
   * `withCredentials`. One tab, the leader, holds the connection, and it is
   * dialed with the leader's `token`, `headers` and `params` (the server
   * authorizes a connection, not a channel, so one connection carries one
   * identity): a follower's are not called while it follows, only once it
   * leads. Tabs of different identities (another user, another token
   * scope) must not share: give each identity its own group name here
   * (e.g. `shared: userId`, at most 128 bytes), or `shared: false`. The
   * timeouts and the backoff are the leader's too. A tab whose page goes
   * into the back/forward cache hands the connection over, and resumes
   * from the last id it saw when the page comes back.
   */
  shared?: boolean | string;
  /**
   * Presence info (any JSON value, at most 1 KiB encoded) listed with this
   * connection in the presence of its channels; a server whose
   * authentication attaches info replaces it. In a shared connection, the
   * leading tab's counts.
   */
  info?: unknown;
}

/** One client in a channel's presence (PROTOCOL.md §9.1). */
export interface PresenceEntry {
  /** The connection's client id (see {@link Connection.clientId}). */
  client: string;
  /** The identity's subject; absent for anonymous clients. */
  user?: string;
  /** The client's presence info, when it has some. */
  info?: unknown;
}

/** Who is in a channel: its clients, their number, and the number of distinct (non-anonymous) users. */
export interface Presence {
  channel: string;
  clients: PresenceEntry[];
  count: number;
  users: number;
}

/** How many are in a channel (presenceStats). */
export interface PresenceStats {
  channel: string;
  count: number;
  users: number;
}

/** A client joined or left a channel this tab holds. user is "" for anonymous clients. */
export interface PresenceEvent {
  channel: string;
  client: string;
  user: string;
}

/** A message: the envelope both wires carry, with data parsed. */
export interface DuetMessage<T = unknown> {
  id: string;
  channel: string;
  event: string;
  data: T;
  /** The server's clock when it accepted the message, Unix ms. */
  ts: number;
  /** Set for a message published as bytes: data is then a Uint8Array (see {@link DuetBinaryMessage}). */
  binary?: true;
}

/**
 * A message published as bytes (publishBinary, Hub.PublishBinary): data is a
 * fresh Uint8Array, on either wire (binary frames on WebSocket, base64 on
 * SSE, decoded for you).
 */
export interface DuetBinaryMessage extends DuetMessage<Uint8Array> {
  binary: true;
}

/** Resume was impossible: messages after lastEventId are lost for these channels. */
export interface DuetGap {
  channels: string[];
  /** The id the client resumed from. */
  lastEventId: string;
  /** Where the stream resumes. */
  id: string;
  reason: "expired" | "restarted";
}

/** Which page of history {@link Connection.history} reads. */
export interface DuetHistoryOptions {
  /** A message id: the page starts after it (before it with reverse). Default: the newest messages. */
  since?: string;
  /** Most messages in the page: 1 to the server's maximum (1000 by default). Default 50. */
  limit?: number;
  /** Walk backward from since: the limit messages just before it. */
  reverse?: boolean;
}

/** A page of a channel's history. */
export interface DuetHistoryPage<T = unknown> {
  channel: string;
  /** In id order, oldest first, whichever the direction. */
  messages: Array<DuetMessage<T> | DuetBinaryMessage>;
  /**
   * false when messages of the page's range may be gone (since older than
   * what the server keeps, or the walk back reached the oldest message kept
   * while older ones were dropped). Never silently true.
   */
  complete: boolean;
  /**
   * The since of the next page in the same direction (backward when the
   * request had no since: pass it with reverse: true); absent at the end.
   */
  next?: string;
}

/** An error of a connection or a publish. */
export interface DuetError extends Error {
  name: "DuetError";
  /** A Duet close code (4xxx, or a WebSocket 1xxx); its meaning is in the protocol document. */
  code: number;
  /** true: the connection stopped for good (state "closed"). */
  fatal: boolean;
}

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";
export type Wire = "websocket" | "sse" | "";

export interface ConnectionEventMap {
  state: (state: ConnectionState, transport: Wire) => void;
  message: (message: DuetMessage) => void;
  gap: (gap: DuetGap) => void;
  error: (error: DuetError) => void;
  /** A client joined one of this tab's channels (channels with join/leave events only; not this connection's own join). */
  join: (event: PresenceEvent) => void;
  /** A client left one of this tab's channels. */
  leave: (event: PresenceEvent) => void;
}

/**
 * A connection from {@link Duet.connect}. Messages arrive once each, in id
 * order, across reconnections, server restarts (after a gap notice), changes
 * of wire and of leading tab. A handler that throws is reported on the
 * console and does not stop the others.
 */
export interface Connection {
  /**
   * Subscribes to channel; handler (optional) gets its messages.
   * @returns a function that undoes this subscription.
   * @throws TypeError for a bad channel name.
   */
  subscribe<T = unknown>(channel: string, handler?: (message: DuetMessage<T>) => void): () => void;
  /** Removes handler from channel, or every handler of channel without one. */
  unsubscribe(channel: string, handler?: (message: DuetMessage<any>) => void): void;
  /**
   * Publishes data (JSON-encoded) to channel. Each publish carries an
   * idempotency key of its own (PROTOCOL.md §3.6): a publish whose ack was
   * lost with its WebSocket is sent again, with the same key, on the next
   * connection, and the server stores it once and answers the first id.
   * It rejects with 1013 when no connection acks it within publishTimeout,
   * and with 1006 when a POST (on SSE) fails on the network: sending it
   * again is then safe only for the server, not through this method.
   * @returns the id the server gave the message; rejects with a {@link DuetError}.
   */
  publish(channel: string, data: unknown, options?: { event?: string }): Promise<{ id: string }>;
  /**
   * Publishes raw bytes to channel: a binary WebSocket frame, or on SSE a
   * POST with the bytes in base64. The bytes are copied at once; the caller
   * may reuse its buffer. Subscribers get a {@link DuetBinaryMessage}. At
   * most once on WebSocket (a binary frame carries no idempotency key): an
   * ack lost with the connection rejects with 1006.
   * @returns the id the server gave the message; rejects with a {@link DuetError},
   * or a TypeError when data is not bytes.
   */
  publishBinary(channel: string, data: Uint8Array | ArrayBuffer | ArrayBufferView, options?: { event?: string }): Promise<{ id: string }>;
  /**
   * Who is in channel: a presence frame over a live WebSocket, else
   * GET /rt/presence (SSE, or a tab riding on another's connection). Needs
   * subscribe permission on channel, not a subscription. Read it after
   * subscribing and apply on("join") / on("leave") events to keep it exact.
   * @returns rejects with a {@link DuetError}: 4422 for a channel without presence, 4403, 4429.
   */
  presence(channel: string): Promise<Presence>;
  /** How many are in channel (constant time on the server); as {@link presence}. */
  presenceStats(channel: string): Promise<PresenceStats>;
  /**
   * Reads a page of channel's history (GET /rt/history, PROTOCOL.md §3.7),
   * whichever wire is up: without since, the newest limit messages; with
   * since, the limit messages after it (before it with reverse). It does
   * not subscribe, and its messages do not go to handlers.
   * Requires the subscribe permission on channel.
   * @returns the page; rejects with a {@link DuetError} (4400 bad limit,
   * 4422 bad channel, 4424 bad since, 4403 not allowed), or a TypeError for
   * bad arguments.
   */
  history<T = unknown>(channel: string, options?: DuetHistoryOptions): Promise<DuetHistoryPage<T>>;
  /** @returns a function that removes the handler. */
  on<K extends keyof ConnectionEventMap>(type: K, handler: ConnectionEventMap[K]): () => void;
  off<K extends keyof ConnectionEventMap>(type: K, handler: ConnectionEventMap[K]): void;
  /** Closes the connection (this tab's share of it, when shared). */
  close(): void;
  readonly state: ConnectionState;
  /** The wire in use, by this tab or the leading tab. */
  readonly transport: Wire;
  /** The id of the last message this tab received ("" for none). */
  readonly lastEventId: string;
  /** This tab's channels, sorted. */
  readonly channels: string[];
  /** Whether this tab holds the connection (always true unless shared). */
  readonly leader: boolean;
  /** Whether the connection is shared between tabs. */
  readonly shared: boolean;
  /**
   * The client id the server gave the connection (this tab's or the
   * leading tab's), as presence lists it; "" before the first connection
   * opens. It changes on each reconnection.
   */
  readonly clientId: string;
}
