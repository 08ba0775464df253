import { EventEmitter } from "node:events";

/** Event name → listener argument tuple. */
export type EventMap = { [event: string]: unknown[] };

/**
 * A typed `on/once/off` over Node's EventEmitter, by composition: the device's own
 * `emit(eventName, data)` publishes MQTT events, so it cannot inherit EventEmitter's.
 *
 * @example
 *   class Thing extends TypedEmitter<{ ready: [number] }> {}
 *   new Thing().on("ready", (n) => console.log(n + 1));
 */
export class TypedEmitter<Events extends EventMap> {
  readonly #emitter = new EventEmitter();

  constructor() {
    // Waiters of whenOnline() are listeners too; a few dozen is legitimate.
    this.#emitter.setMaxListeners(100);
  }

  on<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.#emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  listenerCount<K extends keyof Events & string>(event: K): number {
    return this.#emitter.listenerCount(event);
  }

  protected fire<K extends keyof Events & string>(event: K, ...args: Events[K]): boolean {
    return this.#emitter.emit(event, ...args);
  }

  protected removeAllListeners(): void {
    this.#emitter.removeAllListeners();
  }
}
