import type { Duplex } from "node:stream";

/**
 * Holds sockets detached from their devices (half-open drops, vanished routers) open
 * and silent for `holdMs`, so the broker has to notice them by keepalive, then destroys
 * them. Bounded: beyond `capacity`, the oldest is destroyed early.
 */
export class ZombieSockets {
  // Bound: `capacity` sockets; each leaves after holdMs, on eviction, or on closeAll().
  readonly #held = new Map<Duplex, ReturnType<typeof setTimeout>>();

  constructor(
    private readonly holdMs: number,
    private readonly capacity = 10_000,
  ) {}

  get size(): number {
    return this.#held.size;
  }

  hold(socket: Duplex): void {
    if (this.#held.size >= this.capacity) {
      const oldest = this.#held.keys().next();
      if (!oldest.done) this.#release(oldest.value);
    }
    this.#held.set(
      socket,
      setTimeout(() => this.#release(socket), this.holdMs),
    );
  }

  closeAll(): void {
    for (const socket of [...this.#held.keys()]) this.#release(socket);
  }

  #release(socket: Duplex): void {
    clearTimeout(this.#held.get(socket));
    this.#held.delete(socket);
    socket.destroy();
  }
}
