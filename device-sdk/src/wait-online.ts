/** `Device.whenOnline()`: a promise of the next `online` event, rejected if the device closes first. */
import { ErrorCode, TetherError } from "../../protocol/src/index.js";
import type { DeviceEvents, DeviceStatus } from "./device-types.js";
import type { TypedEmitter } from "./typed-emitter.js";

/** Resolves when `device` is online (at once if it is); rejects if it closes first. */
export function waitOnline(
  device: TypedEmitter<DeviceEvents> & { readonly status: DeviceStatus },
): Promise<void> {
  if (device.status === "online") return Promise.resolve();
  if (device.status === "closed") return Promise.reject(new TetherError(ErrorCode.DeviceOffline, "closed"));
  return new Promise<void>((resolve, reject) => {
    const online = () => {
      device.off("offline", closed);
      resolve();
    };
    const closed = () => {
      if (device.status !== "closed") return;
      device.off("online", online);
      reject(new TetherError(ErrorCode.DeviceOffline, "closed"));
    };
    device.once("online", online);
    device.on("offline", closed);
  });
}
