// Duet's browser client loader (an ES module).
//
//   const Duet = await (await import("/duet.js")).loadDuet();
//   const es = new Duet.EventSource("/rt/sse?channel=news");
//   const conn = Duet.connect("/", { channels: ["news"] });
//   const authed = Duet.connect("/", { token: async () => (await fetch("/token")).text() });
//
// loadDuet fetches the WebAssembly module (duet.<hash>.wasm, next to this
// file under static/), runs it with the wasm_exec.js of the Go that built
// it, and resolves with the API once the module has registered it. The
// server's client.Assets handler injects the hashed file name below when it
// serves this file; served any other way, the loader asks for
// static/duet.wasm. duet.d.ts declares the whole API.

const injectedWasmFile = "__DUET_WASM_FILE__"; // replaced by client.Assets
const wasmFile = injectedWasmFile.endsWith(".wasm") ? injectedWasmFile : "duet.wasm";
const buildHint = "run `go tool task build` (or `go tool task wasm`)";

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;

// THROW marks what a Go function returns to make its caller throw (see
// Throw in wasm/internal/js): syscall/js cannot throw into JavaScript.
const THROW = Symbol.for("duet.throw");

function unwrap(result) {
  if (result !== null && typeof result === "object" && Object.prototype.hasOwnProperty.call(result, THROW)) {
    throw result[THROW];
  }
  return result;
}

// engine is the API the Go program registers (globalThis.__duet).
let engine = null;

function documentBase() {
  if (typeof document !== "undefined" && document.baseURI) return document.baseURI;
  if (typeof location !== "undefined") return location.href;
  return undefined;
}

/**
 * EventSource is the WHATWG EventSource, built on fetch and Duet's Go
 * server-sent events parser. The class lives here, a real EventTarget
 * subclass dispatching real MessageEvents; the connection rules (reconnect,
 * retry, Last-Event-ID, fail) run in Go (wasm/eventsource), which calls
 * back through #emit.
 */
class EventSource extends EventTarget {
  #url;
  #withCredentials;
  #readyState = CONNECTING;
  #id = 0;
  #origin = "null";
  #handlers = { open: null, message: null, error: null };
  #handlerListeners = { open: null, message: null, error: null };

  constructor(url, eventSourceInitDict = undefined) {
    super();
    if (arguments.length < 1) {
      throw new TypeError("Failed to construct 'EventSource': 1 argument required, but only 0 present.");
    }
    if (engine === null) {
      throw new Error("duet: EventSource used before loadDuet() resolved");
    }
    const init = eventSourceInitDict ?? {};
    if (typeof init !== "object" && typeof init !== "function") {
      throw new TypeError("Failed to construct 'EventSource': The provided value is not of type 'EventSourceInit'.");
    }
    let parsed;
    try {
      parsed = new URL(String(url), documentBase());
    } catch {
      throw new DOMException(
        `Failed to construct 'EventSource': Cannot open an EventSource to '${url}'. The URL is invalid.`,
        "SyntaxError",
      );
    }
    this.#url = parsed.href;
    this.#withCredentials = Boolean(init.withCredentials);
    this.#origin = parsed.origin;
    this.#id = unwrap(
      engine.eventSource.open(this.#url, this.#withCredentials, init, (kind, a, b, c) => this.#emit(kind, a, b, c)),
    );
  }

  // #emit receives the Go engine's events: 0 open(url), 1 message(type,
  // data, lastEventId), 2 error(readyState, reason).
  #emit(kind, a, b, c) {
    if (this.#readyState === CLOSED) return;
    switch (kind) {
      case 0:
        this.#readyState = OPEN;
        try {
          this.#origin = new URL(a).origin;
        } catch {
          // keep the request URL's origin
        }
        this.dispatchEvent(new Event("open"));
        break;
      case 1:
        this.dispatchEvent(new MessageEvent(a, { data: b, origin: this.#origin, lastEventId: c }));
        break;
      case 2:
        this.#readyState = a;
        this.dispatchEvent(new Event("error"));
        break;
    }
  }

  get url() {
    return this.#url;
  }

  get withCredentials() {
    return this.#withCredentials;
  }

  get readyState() {
    return this.#readyState;
  }

  close() {
    this.#readyState = CLOSED;
    if (this.#id !== 0) {
      const id = this.#id;
      this.#id = 0;
      unwrap(engine.eventSource.close(id));
    }
  }

  get onopen() {
    return this.#handlers.open;
  }
  set onopen(v) {
    this.#setHandler("open", v);
  }
  get onmessage() {
    return this.#handlers.message;
  }
  set onmessage(v) {
    this.#setHandler("message", v);
  }
  get onerror() {
    return this.#handlers.error;
  }
  set onerror(v) {
    this.#setHandler("error", v);
  }

  // #setHandler follows the event handler IDL attribute rules: the handler
  // is one listener, registered where it was first set; null removes it.
  #setHandler(type, v) {
    const handler = (typeof v === "object" && v !== null) || typeof v === "function" ? v : null;
    this.#handlers[type] = handler;
    if (handler === null) {
      if (this.#handlerListeners[type] !== null) {
        this.removeEventListener(type, this.#handlerListeners[type]);
        this.#handlerListeners[type] = null;
      }
      return;
    }
    if (this.#handlerListeners[type] === null) {
      const listener = (event) => {
        const h = this.#handlers[type];
        if (typeof h === "function") h.call(this, event);
      };
      this.#handlerListeners[type] = listener;
      this.addEventListener(type, listener);
    }
  }
}

for (const [name, value] of [["CONNECTING", CONNECTING], ["OPEN", OPEN], ["CLOSED", CLOSED]]) {
  Object.defineProperty(EventSource, name, { value, enumerable: true });
  Object.defineProperty(EventSource.prototype, name, { value, enumerable: true });
}
Object.defineProperty(EventSource.prototype, Symbol.toStringTag, { value: "EventSource", configurable: true });

/**
 * installEventSource sets globalThis.EventSource to Duet's polyfill where
 * the runtime has none, or always with {replace: true}. It returns whether
 * it installed it.
 */
function installEventSource({ replace = false } = {}) {
  if (!replace && typeof globalThis.EventSource === "function") return false;
  Object.defineProperty(globalThis, "EventSource", {
    value: EventSource,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  return true;
}

// wrapConnection makes the Go connection object's methods throw what they
// return as a throw marker. Methods are wrapped once each, so
// conn.close === conn.close.
// once guards the functions subscribe() and on() return: the Go function
// behind each is released after its first call, and a second call (a common
// pattern in component cleanups) must be a no-op, not an error.
function once(f) {
  if (typeof f !== "function") return f;
  let done = false;
  return () => {
    if (!done) {
      done = true;
      f();
    }
  };
}

function wrapConnection(raw) {
  const wrapped = new Map();
  return new Proxy(raw, {
    get(target, key) {
      const v = Reflect.get(target, key);
      if (typeof v !== "function") return v;
      let w = wrapped.get(key);
      if (w === undefined || w.raw !== v) {
        const fn = (...args) => once(unwrap(v.apply(target, args)));
        w = { raw: v, fn };
        wrapped.set(key, w);
      }
      return w.fn;
    },
  });
}

function connect(baseURL, options) {
  if (arguments.length < 1) {
    throw new TypeError("Failed to execute 'Duet.connect': 1 argument required, but only 0 present.");
  }
  return wrapConnection(unwrap(engine.connect(baseURL, options)));
}

let loading = null;
let ourGo = null;

// importGo runs wasm_exec.js, which defines globalThis.Go, and returns that
// class. It must be the wasm_exec.js of the Go that built duet.wasm, so
// ours is loaded even if the page has another Go program, whose Go is put
// back afterwards.
async function importGo(url) {
  if (ourGo !== null) return ourGo;
  const pageGo = globalThis.Go;
  await import(url);
  const Go = globalThis.Go;
  if (pageGo !== undefined) globalThis.Go = pageGo;
  if (typeof Go !== "function") {
    throw new Error(`duet: ${url} did not define Go; ${buildHint}`);
  }
  ourGo = Go;
  return Go;
}

/**
 * loadDuet loads and starts the WebAssembly module, once per page, and
 * resolves with the API. A failed load may be retried.
 *
 * options.wasmURL and options.wasmExecURL override where the module and
 * wasm_exec.js are fetched from (they default to this module's static/).
 */
export function loadDuet(options = {}) {
  if (loading === null) {
    loading = load(options).catch((err) => {
      loading = null;
      throw err;
    });
  }
  return loading;
}

// mark records a User Timing mark; the start-up benchmark
// (playwright/tests/startup-bench.spec.ts) reads them: duet:load,
// duet:compiled, duet:instantiated, duet:ready here, duet:go-main and
// duet:api from the Go program, duet:lock when a tab takes the lead.
function mark(name) {
  try {
    performance.mark(name);
  } catch {
    // no User Timing: nothing to record
  }
}

async function load({ wasmURL, wasmExecURL } = {}) {
  const started = performance.now();
  mark("duet:load");
  const staticBase = new URL("./static/", import.meta.url);
  wasmURL = new URL(wasmURL ?? wasmFile, staticBase).href;
  wasmExecURL = new URL(wasmExecURL ?? "wasm_exec.js", staticBase).href;

  const [Go, response] = await Promise.all([importGo(wasmExecURL), fetch(wasmURL)]);
  if (!response.ok) {
    throw new Error(`duet: cannot load ${wasmURL}: HTTP ${response.status}; ${buildHint}`);
  }

  let module;
  if ((response.headers.get("Content-Type") ?? "").startsWith("application/wasm")) {
    module = await WebAssembly.compileStreaming(response);
  } else {
    // A server that does not know the type: compile from the bytes.
    module = await WebAssembly.compile(await response.arrayBuffer());
  }
  mark("duet:compiled");
  const go = new Go();
  const instance = await WebAssembly.instantiate(module, go.importObject);
  mark("duet:instantiated");

  const ready = new Promise((resolve) => {
    globalThis.__duetReady = resolve;
  });
  const exited = go.run(instance).then(() => {
    throw new Error("duet: the WebAssembly program exited");
  });
  engine = await Promise.race([ready, exited]);
  exited.catch((err) => console.error(err));
  mark("duet:ready");

  return Object.freeze({
    version: engine.version,
    loadTimeMs: performance.now() - started,
    EventSource,
    installEventSource,
    connect,
  });
}
