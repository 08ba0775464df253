import type { Duplex } from "node:stream";
import type { Device } from "./device.js";

/** Key of the device's hidden hook; not part of the public API. */
export const detachSocketKey: unique symbol = Symbol("tether.detachSocket");

/**
 * For the simulator and tests only: takes the device's live socket away without a
 * DISCONNECT or FIN, so the broker sees a half-open connection (issue 6). The device
 * treats the connection as lost and reconnects with backoff. The caller owns the
 * returned socket and must `destroy()` it later; null when the device is not connected.
 *
 * @example
 *   const socket = detachSocket(device);
 *   setTimeout(() => socket?.destroy(), 120_000); // after the broker's keepalive timeout
 */
export function detachSocket(device: Device): Duplex | null {
  return device[detachSocketKey]();
}
