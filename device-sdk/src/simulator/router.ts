import { isRecord } from "../../../protocol/src/index.js";
import type { BackoffOptions } from "../backoff.js";
import { connectDevice, type Device } from "../device.js";

export interface RouterOptions {
  id: string;
  password: string;
  urls: string[];
  keepalive: number;
  /** Period of the `heartbeat` event, ms; 0 disables it. */
  eventIntervalMs: number;
  /** Period of the uptime state report, ms; 0 disables it. */
  stateIntervalMs: number;
  backoff?: Partial<BackoffOptions>;
  /** Called once per command the router answers, whatever the outcome. */
  onCommand(): void;
  onError(error: Error): void;
}

/**
 * One simulated home router on the SDK: answers `ping`, `get_state` and `set_state`,
 * reports its state, emits a periodic `heartbeat` event, and applies desired state by
 * merging it into its reported state (so the delta empties once it has converged).
 */
export class SimulatedRouter {
  readonly device: Device;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  readonly #bootedAt = Date.now();

  constructor(readonly options: RouterOptions) {
    const device = connectDevice({
      deviceId: options.id,
      password: options.password,
      urls: options.urls,
      keepalive: options.keepalive,
      backoff: options.backoff,
      // A simulated fleet of thousands keeps its memory small.
      maxQueuedEvents: 100,
      resultCacheSize: 64,
    });
    this.device = device;
    device.on("error", options.onError);
    device.command("ping", () => {
      options.onCommand();
      return { pong: true };
    });
    device.command("get_state", () => {
      options.onCommand();
      return device.state;
    });
    device.command("set_state", (params) => {
      options.onCommand();
      if (!isRecord(params)) throw new Error("params must be a JSON object");
      device.reportState(params);
      return device.state;
    });
    // Applying takes a moment, as on a real router; a newer version aborts it. Like a
    // real model it cannot do everything: a 6 GHz band fails (desiredError in the view).
    device.onDesired(async (desired, { signal }) => {
      if (isRecord(desired.wifi) && desired.wifi.band === "6GHz")
        throw new Error("SIM-AX3000 has no 6 GHz radio");
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, 50);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(signal.reason);
        });
      });
      return desired;
    });
    device.reportState({
      firmware: "tether-sim 1.0",
      model: "SIM-AX3000",
      wifi: { ssid: `home-${options.id}`, band: "5GHz" },
      clients: 0,
      uptimeS: 0,
    });
    // Random phase so a fleet does not report in lockstep.
    if (options.eventIntervalMs > 0) this.#every(options.eventIntervalMs, () => this.#heartbeat());
    if (options.stateIntervalMs > 0) this.#every(options.stateIntervalMs, () => this.#reportUptime());
  }

  get online(): boolean {
    return this.device.status === "online";
  }

  /** Stops timers and closes the device (a clean DISCONNECT when online). */
  async stop(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers.length = 0;
    await this.device.close();
  }

  #every(periodMs: number, task: () => void): void {
    const phase = setTimeout(
      () => {
        const interval = setInterval(task, periodMs);
        this.#timers.push(interval);
        task();
      },
      Math.floor(Math.random() * periodMs),
    );
    this.#timers.push(phase);
  }

  #heartbeat(): void {
    if (this.device.status === "closed") return;
    this.device.emit(
      "heartbeat",
      { uptimeS: this.#uptime(), load: Math.round(Math.random() * 100) / 100 },
      {
        qos: 0,
      },
    );
  }

  #reportUptime(): void {
    if (this.device.status === "closed") return;
    this.device.reportState({ uptimeS: this.#uptime(), clients: Math.floor(Math.random() * 12) });
  }

  #uptime(): number {
    return Math.floor((Date.now() - this.#bootedAt) / 1000);
  }
}
