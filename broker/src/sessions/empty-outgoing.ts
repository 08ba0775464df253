import { createRequire, syncBuiltinESMExports } from "node:module";
import { Readable } from "node:stream";

/**
 * Issue 14, connect rate: the last step of every CONNECT in Aedes 1.2 (lib/handlers/connect.js
 * `emptyQueue`) sends the session's queued messages with
 * `pipeline(persistence.outgoingStream(client), through(…), done)` — even when nothing is
 * queued, which for an idle fleet reconnecting is every router. That `pipeline` costs more than
 * anything else of the CONNECT in JavaScript (lib/client.js `emptyOutgoingQueue` does the same when
 * a clean session closes): end-of-stream watchers on both streams, and an
 * AbortController that pipeline aborts when it finishes, building a DOMException with a stack
 * trace (~90 µs per CONNECT alone, on this machine; the profile of 15,000 connects had
 * `DOMException` as the top JavaScript function in Tether and bare Aedes alike).
 *
 * Here a session with nothing queued gets a marked, empty stream from the persistence
 * (`emptyOutgoing()`), and `stream.pipeline` sees it and calls back on the next tick with
 * nothing to pipe. Every other call is the original `pipeline`. The marked stream is a real
 * empty Readable, so if `pipeline` were not wrapped (another Node, another Aedes) it would
 * still be piped correctly, only at the old cost.
 *
 * How: Node's `node:stream` exports are patched, and `syncBuiltinESMExports()` (Node's API
 * for exactly this) updates the live bindings of the ES module imports — Aedes imports
 * `pipeline` from 'node:stream'. Once per process; test/broker/empty-outgoing.test.ts checks
 * that Aedes's CONNECTs take the shortcut and that queued messages still go the full way.
 */
const marked = new WeakSet<Readable>();
let shortcuts = 0;
let installed = false;

/** A stream with nothing in it, which the wrapped `pipeline` skips. */
export function emptyOutgoing(): Readable {
  const stream = new Readable({ objectMode: true, read: endAtOnce });
  marked.add(stream);
  return stream;
}

function endAtOnce(this: Readable): void {
  this.push(null);
}

/** How many pipelines took the shortcut in this process (tests, diagnostics). */
export function emptyOutgoingShortcuts(): number {
  return shortcuts;
}

type Pipeline = (...args: unknown[]) => unknown;

/** Wraps `stream.pipeline` once per process; returns whether it is wrapped. */
export function installEmptyOutgoingShortcut(): boolean {
  if (installed) return true;
  // The CommonJS exports object: its properties are what syncBuiltinESMExports copies.
  const streams = createRequire(import.meta.url)("node:stream") as { pipeline: unknown };
  const original = streams.pipeline;
  if (typeof original !== "function") return false;
  const pipeline: Pipeline = (...args) => {
    const [source, through, done] = args;
    if (args.length === 3 && source instanceof Readable && marked.has(source) && typeof done === "function") {
      shortcuts++;
      process.nextTick(done as () => void);
      return through;
    }
    return Reflect.apply(original, streams, args);
  };
  // promisify(pipeline) and friends read this symbol.
  for (const key of Object.getOwnPropertySymbols(original)) {
    Reflect.set(pipeline, key, Reflect.get(original, key));
  }
  streams.pipeline = pipeline;
  syncBuiltinESMExports();
  installed = true;
  return true;
}
