import { WebSocket } from "ws";
import { isRecord, parseJson } from "../../protocol/src/index.js";
import { until } from "./until.js";

/** A frame a client socket received, parsed; `raw` keeps the text for non-JSON frames. */
export type Frame = Record<string, unknown>;

/** A real `ws` client socket on the edge, recording every frame it receives. */
export class ClientSocket {
  /** Bound: one test's worth of frames; the socket is closed at the end of its test. */
  readonly frames: Frame[] = [];
  readonly #ws: WebSocket;
  #closed: Promise<void>;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    this.#closed = new Promise((resolve) => ws.once("close", () => resolve()));
    // A reset after the test has its answer must not become an uncaught 'error'.
    ws.on("error", () => {});
    ws.on("message", (data, isBinary) => {
      const text = isBinary ? "" : data.toString();
      const parsed = parseJson(text);
      this.frames.push(parsed.ok && isRecord(parsed.value) ? parsed.value : { raw: text });
    });
  }

  /** Opens `url` with protocols ["tether", token]; rejects with the HTTP status when refused. */
  static open(url: string, token: string): Promise<ClientSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, ["tether", token]);
      const socket = new ClientSocket(ws);
      ws.once("open", () => resolve(socket));
      ws.once("unexpected-response", (_request, response) => {
        reject(new RefusedUpgrade(response.statusCode ?? 0));
        ws.terminate();
      });
      ws.once("error", reject);
    });
  }

  /** The frames of these types, in arrival order. */
  ofType(...types: string[]): Frame[] {
    return this.frames.filter((frame) => typeof frame.type === "string" && types.includes(frame.type));
  }

  /** Resolves with the first frame (already received or not) that matches. */
  async waitFor(what: string, match: (frame: Frame) => boolean, timeoutMs = 5_000): Promise<Frame> {
    try {
      return await until(what, () => this.frames.find(match), timeoutMs);
    } catch (error) {
      // Say what did arrive: a missing frame is much easier to place with its neighbours.
      throw new Error(`${(error as Error).message}; frames so far: ${JSON.stringify(this.frames)}`);
    }
  }

  send(frame: unknown): void {
    this.#ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    this.#ws.close(1000);
    const forced = setTimeout(() => this.#ws.terminate(), 1_000);
    return this.#closed.finally(() => clearTimeout(forced));
  }
}

export class RefusedUpgrade extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with HTTP ${status}`);
  }
}
