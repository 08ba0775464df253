import { RecencyMap } from "./recency-map.js";
import { type BucketRate, TokenBucket } from "./token-bucket.js";

export interface PublishRateLimits {
  /** Messages per second a device may publish on average… */
  perSecond: number;
  /** …and in a burst. */
  burst: number;
  /** A device with more than `burst` messages dropped within this window is disconnected… */
  floodWindowMs: number;
  /** …and its reconnects are refused for this long. */
  floodCooldownMs: number;
  /** Devices tracked at once (the limiter's own bound). */
  maxTrackedDevices: number;
  /**
   * Most tokens a device may hold above `burst` from commands delivered to it
   * (each credits one message: its result); at least the commands a device can
   * have in flight and queued.
   */
  maxCredit: number;
}

export type PublishVerdict = "ok" | "drop" | "flood";

class DeviceState {
  readonly bucket: TokenBucket;
  /** Start of the window in which drops are counted toward `flood`. */
  windowStart = 0;
  dropped = 0;
  cooldownUntil = 0;

  constructor(rate: BucketRate, now: number) {
    this.bucket = new TokenBucket(rate, now);
  }
}

/**
 * The per-device publish rate limit (issue 10 §3): a token bucket per device id
 * (so a reconnect does not refill it). Over the limit a message is dropped;
 * more than `burst` drops within `floodWindowMs` is sustained abuse: the device
 * is disconnected and refused for `floodCooldownMs`. The defaults (20/s, burst
 * 200) are far above what an honest router sends on its own (state on change, a
 * few events a minute); its results are paid for by the commands it is sent:
 * each command delivered to a device credits it one message, so a router
 * answering commands as fast as the API sends them is never limited.
 */
export class PublishRateLimiter {
  readonly #limits: PublishRateLimits;
  readonly #rate: BucketRate;
  readonly #now: () => number;
  /** Bound: `maxTrackedDevices`; a device with a full bucket, no drops and no cool-down is idle. */
  readonly #devices: RecencyMap<DeviceState>;

  constructor(limits: PublishRateLimits, now: () => number) {
    this.#limits = limits;
    this.#rate = { perSecond: limits.perSecond, burst: limits.burst };
    this.#now = now;
    this.#devices = new RecencyMap(limits.maxTrackedDevices, (state) => {
      const at = this.#now();
      return (
        state.cooldownUntil <= at &&
        at - state.windowStart > this.#limits.floodWindowMs &&
        state.bucket.isFull(this.#rate, at)
      );
    });
  }

  get trackedDevices(): number {
    return this.#devices.size;
  }

  /** One publish from `deviceId`. */
  take(deviceId: string): PublishVerdict {
    const now = this.#now();
    const state = this.#devices.touch(deviceId, () => new DeviceState(this.#rate, now));
    if (state.bucket.take(this.#rate, now)) return "ok";
    if (now - state.windowStart > this.#limits.floodWindowMs) {
      state.windowStart = now;
      state.dropped = 0;
    }
    state.dropped++;
    if (state.dropped <= this.#limits.burst) return "drop";
    state.cooldownUntil = now + this.#limits.floodCooldownMs;
    state.dropped = 0;
    return "flood";
  }

  /** A command was delivered to `deviceId`: it may publish one more message (its result). */
  credit(deviceId: string): void {
    const state = this.#devices.get(deviceId);
    // No state: its bucket is full, and the result fits in the burst.
    if (!state) return;
    state.bucket.credit(this.#rate, this.#now(), this.#limits.maxCredit);
  }

  /** True while a device disconnected for flooding may not reconnect. */
  inCooldown(deviceId: string): boolean {
    const state = this.#devices.get(deviceId);
    return state !== undefined && state.cooldownUntil > this.#now();
  }

  clear(): void {
    this.#devices.clear();
  }
}
