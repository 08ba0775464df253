import WebSocket from "ws";

/**
 * Forces a full garbage collection in the broker from outside, through the V8
 * inspector (HeapProfiler.collectGarbage), then reads its heap. The broker needs
 * no debug code for it; the soak starts it with `--inspect=127.0.0.1:0`. Readings
 * after a full GC are the live memory: the sawtooth of garbage between collections
 * would otherwise swamp a slope of 0.1 KB/s.
 */
export class InspectorGc {
  private nextId = 1;
  /** Bound: one request at a time (the sampler awaits each). */
  private readonly waiting = new Map<number, (result: unknown) => void>();

  private constructor(private readonly socket: WebSocket) {
    socket.on("message", (data) => {
      let message: unknown;
      try {
        message = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (typeof message !== "object" || message === null) return;
      const id = Reflect.get(message, "id");
      if (typeof id !== "number") return;
      this.waiting.get(id)?.(Reflect.get(message, "result"));
      this.waiting.delete(id);
    });
  }

  static connect(url: string, timeoutMs = 10_000): Promise<InspectorGc> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { handshakeTimeout: timeoutMs });
      socket.once("open", () => resolve(new InspectorGc(socket)));
      socket.once("error", reject);
    });
  }

  private call(method: string, timeoutMs = 60_000): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`inspector: no answer to ${method} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, (result) => {
        clearTimeout(timer);
        resolve(result);
      });
      this.socket.send(JSON.stringify({ id, method }));
    });
  }

  /** Full GC, twice (the second frees what the first's finalizers released); returns heap used, bytes. */
  async collect(): Promise<number | null> {
    await this.call("HeapProfiler.collectGarbage");
    await this.call("HeapProfiler.collectGarbage");
    const usage = await this.call("Runtime.getHeapUsage");
    const used = typeof usage === "object" && usage !== null ? Reflect.get(usage, "usedSize") : undefined;
    return typeof used === "number" ? used : null;
  }

  close(): void {
    this.socket.terminate();
  }
}
