/**
 * Says whether to log a device's refused payload now: at most once per `intervalMs`
 * per device (issue 12), so a device publishing garbage in a loop costs one log line
 * per interval while the metric still counts every message.
 */
export class PerDeviceLogThrottle {
  /**
   * Device → when it was last logged. Bound: `maxDevices`; insertion order is time order
   * (an entry is deleted and set again when it logs), so expired entries are pruned from
   * the front. When that many devices were logged within one interval, further ones are
   * only counted until entries expire.
   */
  readonly #lastLoggedAt = new Map<string, number>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number,
    private readonly maxDevices = 10_000,
  ) {}

  shouldLog(deviceId: string): boolean {
    const now = this.now();
    const last = this.#lastLoggedAt.get(deviceId);
    if (last !== undefined && now - last < this.intervalMs) return false;
    this.#lastLoggedAt.delete(deviceId);
    for (const [id, at] of this.#lastLoggedAt) {
      if (now - at < this.intervalMs) break;
      this.#lastLoggedAt.delete(id);
    }
    if (this.#lastLoggedAt.size >= this.maxDevices) return false;
    this.#lastLoggedAt.set(deviceId, now);
    return true;
  }
}
