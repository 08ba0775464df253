import { connect, type Socket } from "node:net";

/** One answer as the overload bench needs it: the status and `Retry-After`. */
export interface RawAnswer {
  /** 0 = no answer (connection error or timeout). */
  status: number;
  retryAfter: string | null;
  /** ms the request waited in this client for a free connection before it was written. */
  waitedMs: number;
}

/** What the pool itself did (connections opened and how long they took): the generator's share of a run. */
export interface PoolStats {
  opened: number;
  /** Slowest TCP connect (ms): a SYN dropped by a full accept queue shows as ≥ 1,000. */
  slowestConnectMs: number;
  /** Connects that took ≥ 1 s (a SYN retransmitted). */
  slowConnects: number;
}

interface Waiting {
  request: Buffer;
  timeoutMs: number;
  queuedAt: number;
  resolve: (answer: RawAnswer) => void;
}

interface Connection {
  socket: Socket;
  buffer: Buffer;
  current: (Waiting & { timer: NodeJS.Timeout; waitedMs: number }) | null;
}

const HEADER_END = Buffer.from("\r\n\r\n");

/** A header's value in a raw header block (names are case-insensitive), or null. */
function header(block: string, name: string): string | null {
  const match = new RegExp(`\\r\\n${name}:[ \\t]*([^\\r]*)`, "i").exec(block);
  return match?.[1] ?? null;
}

/**
 * A lean HTTP/1.1 client for the open-loop generator: keep-alive connections, one
 * request at a time on each (as Node's Agent and a Rails fleet do), a prebuilt request
 * written as is, and only the status line, Content-Length and Retry-After read back.
 * Node's http client cost the bench ~0.1–0.2 ms of CPU per request, so at a few
 * thousand requests a second the generator, not the broker, fell behind; this one
 * costs a fraction of that. Responses must carry Content-Length (the broker's do).
 */
export class RawHttpPool {
  readonly #host: string;
  readonly #port: number;
  readonly #maxSockets: number;
  // Bound: maxSockets connections.
  readonly #idle: Connection[] = [];
  #open = 0;
  // Bound: the requests of one run (the generator's own schedule), each settled once.
  readonly #queue: Waiting[] = [];
  #closed = false;
  #stats: PoolStats = { opened: 0, slowestConnectMs: 0, slowConnects: 0 };

  /**
   * Sent on each connection fill() opens, before it counts as idle. Node's server answers `408`
   * and closes a connection whose first request has not arrived within its `headersTimeout`
   * (60 s, slowloris protection), in one sweep every 30 s: the pool's unused connections
   * (fill() opens 2,048; a rate uses a few dozen) were closed under the generator as it picked
   * them, and every request it wrote in that ~30 ms failed (`408` or no answer: 269, 200 and 36
   * in three runs, docs/BENCHMARKS.md, "Overload on a slow afternoon"). Connections #pump opens
   * carry a request at once.
   */
  readonly #warm: Buffer | null;

  constructor(host: string, port: number, maxSockets: number, warm: Buffer | null = null) {
    this.#host = host;
    this.#port = port;
    this.#maxSockets = maxSockets;
    this.#warm = warm;
  }

  /** The pool's own statistics since the last call, then starts them over. */
  takeStats(): PoolStats {
    const stats = this.#stats;
    this.#stats = { opened: 0, slowestConnectMs: 0, slowConnects: 0 };
    return stats;
  }

  send(request: Buffer, timeoutMs: number): Promise<RawAnswer> {
    return new Promise((resolve) => {
      if (this.#closed) return resolve({ status: 0, retryAfter: null, waitedMs: 0 });
      this.#queue.push({ request, timeoutMs, queuedAt: performance.now(), resolve });
      this.#pump();
    });
  }

  /**
   * Opens connections until the pool holds `maxSockets`, and resolves once they are all
   * connected (idle): the fleet holds its connections when a burst comes. Without it the
   * pool opened ~2,000 connections in the middle of a burst (the broker closes idle ones
   * after 5 s), and the broker's accept queue, not the broker, held requests for seconds.
   */
  async fill(): Promise<void> {
    const opening: Promise<void>[] = [];
    while (this.#open < this.#maxSockets && !this.#closed) {
      const connection = this.#connect();
      opening.push(
        new Promise((resolve) => {
          connection.socket.once("connect", () => {
            const warm = this.#warm;
            if (!warm) {
              this.#idle.push(connection);
              return resolve();
            }
            // Its answer makes it idle (#finish); no answer within 10 s closes it.
            const timer = setTimeout(() => connection.socket.destroy(new Error("no answer")), 10_000);
            const done = () => resolve();
            connection.current = {
              request: warm,
              timeoutMs: 10_000,
              queuedAt: 0,
              resolve: done,
              timer,
              waitedMs: 0,
            };
            connection.socket.write(warm);
          });
          connection.socket.once("close", () => resolve());
        }),
      );
    }
    await Promise.all(opening);
  }

  close(): void {
    this.#closed = true;
    for (const waiting of this.#queue.splice(0))
      waiting.resolve({ status: 0, retryAfter: null, waitedMs: 0 });
    for (const connection of this.#idle.splice(0)) connection.socket.destroy();
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      const connection = this.#idle.pop() ?? (this.#open < this.#maxSockets ? this.#connect() : null);
      if (!connection) return;
      const waiting = this.#queue.shift() as Waiting;
      const timer = setTimeout(() => connection.socket.destroy(new Error("gave up")), waiting.timeoutMs);
      connection.current = { ...waiting, timer, waitedMs: performance.now() - waiting.queuedAt };
      connection.socket.write(waiting.request);
    }
  }

  #connect(): Connection {
    const socket = connect(this.#port, this.#host);
    socket.setNoDelay(true);
    const connection: Connection = { socket, buffer: Buffer.alloc(0), current: null };
    this.#open++;
    this.#stats.opened++;
    const connecting = performance.now();
    socket.once("connect", () => {
      const ms = performance.now() - connecting;
      this.#stats.slowestConnectMs = Math.max(this.#stats.slowestConnectMs, ms);
      if (ms >= 1_000) this.#stats.slowConnects++;
    });
    socket.on("data", (chunk: Buffer) => this.#read(connection, chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      this.#open--;
      const index = this.#idle.indexOf(connection);
      if (index !== -1) this.#idle.splice(index, 1);
      this.#finish(connection, { status: 0, retryAfter: null }, false);
      if (!this.#closed) this.#pump();
    });
    return connection;
  }

  #read(connection: Connection, chunk: Buffer): void {
    connection.buffer = connection.buffer.length === 0 ? chunk : Buffer.concat([connection.buffer, chunk]);
    const end = connection.buffer.indexOf(HEADER_END);
    if (end === -1) return;
    const block = connection.buffer.subarray(0, end).toString("latin1");
    const length = Number(header(block, "content-length") ?? 0);
    const total = end + HEADER_END.length + length;
    if (connection.buffer.length < total) return;
    connection.buffer = connection.buffer.subarray(total);
    const status = Number(block.slice(9, 12));
    const keepOpen = header(block, "connection")?.toLowerCase() !== "close";
    this.#finish(connection, { status, retryAfter: header(block, "retry-after") }, keepOpen);
  }

  #finish(connection: Connection, answer: Omit<RawAnswer, "waitedMs">, reuse: boolean): void {
    const current = connection.current;
    connection.current = null;
    if (current) {
      clearTimeout(current.timer);
      current.resolve({ ...answer, waitedMs: current.waitedMs });
    }
    if (reuse && !this.#closed) {
      this.#idle.push(connection);
      this.#pump();
    } else if (reuse) connection.socket.destroy();
  }
}

/** The bytes of one GET (the pool's warm request). */
export function getRequest(host: string, port: number, path: string, token: string): Buffer {
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nAuthorization: Bearer ${token}\r\n\r\n`,
  );
}

/** The bytes of one POST with a JSON body. */
export function postRequest(host: string, port: number, path: string, token: string, body: string): Buffer {
  const payload = Buffer.from(body);
  return Buffer.concat([
    Buffer.from(
      `POST ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`,
    ),
    payload,
  ]);
}
