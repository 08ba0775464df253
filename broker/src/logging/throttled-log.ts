import type { Logger } from "pino";
import { clipDetails } from "./clip.js";

interface Window {
  /** Occurrences since the last line was written for this key. */
  count: number;
  /** The details of the latest of them, for the summary line. */
  last: Record<string, unknown>;
}

export interface ThrottledLogOptions {
  logger: Logger;
  /** At most one line per key per interval. */
  intervalMs: number;
  /** The `msg` of every line. */
  msg: string;
  level?: "warn" | "info";
  /** The field that carries the key (default "reason"). */
  keyField?: string;
  /** Most distinct keys tracked at once; beyond it new keys are counted in the summary only. */
  maxKeys?: number;
}

/**
 * Rate-limited logging, one line per key (e.g. a refusal reason) per interval:
 * the first occurrence is written at once with its details; later ones within
 * the interval are counted and written as one summary line with `count` when
 * the interval ends. So one SUBSCRIBE with 2,000 refused filters, or 1,000 bad
 * passwords a second, costs a few lines, while the metric counts every one.
 * String details are clipped (logging/clip.ts).
 *
 * The interval runs on a Node timer (unref'd), not the injected clock: this is
 * operational output, like the memory log.
 */
export class ThrottledLog {
  readonly #options: Required<ThrottledLogOptions>;
  /** Bound: `maxKeys` (refusal reasons are a fixed set); a key is deleted after a quiet interval. */
  readonly #windows = new Map<string, Window>();
  #overflow = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: ThrottledLogOptions) {
    this.#options = { level: "warn", keyField: "reason", maxKeys: 256, ...options };
  }

  record(key: string, details: Record<string, unknown>): void {
    const window = this.#windows.get(key);
    if (window) {
      window.count++;
      window.last = details;
      return;
    }
    if (this.#windows.size >= this.#options.maxKeys) {
      this.#overflow++;
      return;
    }
    this.#windows.set(key, { count: 0, last: details });
    this.#write(key, details, {});
    this.#timer ??= setInterval(() => this.flush(), this.#options.intervalMs).unref();
  }

  /** Writes one summary line per key seen again since its last line; forgets quiet keys. */
  flush(): void {
    for (const [key, window] of this.#windows) {
      if (window.count === 0) {
        this.#windows.delete(key);
        continue;
      }
      this.#write(key, window.last, { count: window.count, intervalMs: this.#options.intervalMs });
      window.count = 0;
    }
    if (this.#overflow > 0) {
      this.#options.logger[this.#options.level](
        { [this.#options.keyField]: "other", count: this.#overflow },
        this.#options.msg,
      );
      this.#overflow = 0;
    }
    if (this.#windows.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  /** Writes what is still counted and stops the timer. */
  close(): void {
    this.flush();
    this.#windows.clear();
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #write(key: string, details: Record<string, unknown>, summary: Record<string, unknown>): void {
    this.#options.logger[this.#options.level](
      { ...clipDetails(details), [this.#options.keyField]: key, ...summary },
      this.#options.msg,
    );
  }
}
