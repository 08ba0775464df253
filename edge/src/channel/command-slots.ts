/**
 * Counts the WebSocket commands of one device that wait for the broker, so the
 * sockets can never hold all of the broker's pending slots for the device (Rails
 * would get 429) and one user cannot hold all of the sockets' share. In memory:
 * a Durable Object is not evicted while a relay awaits the broker, and a command
 * in flight ends with its relay (release() in a finally).
 */
export type SlotRefusal = { ok: false; message: string };

export class CommandSlots {
  #total = 0;
  /** In-flight count per user; at most `perDevice` entries (each holds a slot), removed at zero. */
  readonly #byUser = new Map<string, number>();

  constructor(
    private readonly perDevice: number,
    private readonly perUser: number,
  ) {}

  get inFlight(): number {
    return this.#total;
  }

  /** Takes a slot for `user`, or says why not; every `{ok: true}` must be released once. */
  take(user: string): { ok: true } | SlotRefusal {
    if (this.#total >= this.perDevice) {
      return {
        ok: false,
        message: `${this.perDevice} WebSocket commands already wait for this device (the rest of its broker slots are kept for Rails)`,
      };
    }
    const held = this.#byUser.get(user) ?? 0;
    if (held >= this.perUser) {
      return { ok: false, message: `this user already has ${this.perUser} commands waiting for this device` };
    }
    this.#total += 1;
    this.#byUser.set(user, held + 1);
    return { ok: true };
  }

  release(user: string): void {
    const held = this.#byUser.get(user);
    if (held === undefined) return;
    this.#total -= 1;
    if (held <= 1) this.#byUser.delete(user);
    else this.#byUser.set(user, held - 1);
  }
}
