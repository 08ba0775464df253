/** Device ids: `^[A-Za-z0-9_-]{1,64}$` (CONTRACT.md, "Identities and secrets"). */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** True when `value` is a well-formed device id. */
export function isDeviceId(value: unknown): value is string {
  return typeof value === "string" && DEVICE_ID_PATTERN.test(value);
}
