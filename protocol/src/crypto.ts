/**
 * Password derivation and event signatures on WebCrypto, so the same code runs
 * in Node (>= 18, `globalThis.crypto`) and in workerd.
 */

const encoder = new TextEncoder();

/** Unpadded base64url of bytes. */
export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Lower-case hex of bytes. */
export function hex(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}

/** HMAC-SHA256 of `message` under `secret`. */
export async function hmacSha256(secret: string, message: string): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
}

/**
 * Compares two strings in time that depends only on their lengths, never on
 * where they first differ.
 */
export function timingSafeEqual(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  const length = Math.max(left.length, right.length);
  let diff = left.length ^ right.length;
  for (let i = 0; i < length; i++) diff |= (left[i] ?? 0) ^ (right[i] ?? 0);
  return diff === 0;
}

/**
 * A device's MQTT password: `base64url(HMAC-SHA256(DEVICE_SECRET, deviceId))`, unpadded.
 *
 * @example
 *   const password = await devicePassword(process.env.DEVICE_SECRET, "router-0");
 */
export async function devicePassword(deviceSecret: string, deviceId: string): Promise<string> {
  return base64url(await hmacSha256(deviceSecret, deviceId));
}

/** Checks a device's password in constant time. */
export async function verifyDevicePassword(
  deviceSecret: string,
  deviceId: string,
  password: string,
): Promise<boolean> {
  return timingSafeEqual(await devicePassword(deviceSecret, deviceId), password);
}

/** Name of the header that signs broker → edge event batches. */
export const SIGNATURE_HEADER = "Tether-Signature";
/** A signature whose `t` is further than this from the receiver's clock is refused. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` */
export async function signBody(secret: string, rawBody: string, nowSeconds: number): Promise<string> {
  const t = Math.floor(nowSeconds);
  return `t=${t},v1=${hex(await hmacSha256(secret, `${t}.${rawBody}`))}`;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: "malformed" | "stale" | "mismatch" };

/** Verifies a `Tether-Signature` header against the raw body and the receiver's clock. */
export async function verifyBodySignature(
  secret: string,
  header: string | null | undefined,
  rawBody: string,
  nowSeconds: number,
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): Promise<SignatureCheck> {
  if (!header) return { ok: false, reason: "malformed" };
  let t: string | undefined;
  const candidates: string[] = [];
  for (const part of header.split(",")) {
    const [key, value] = part.trim().split("=", 2);
    if (key === "t" && value) t = value;
    else if (key === "v1" && value) candidates.push(value);
  }
  if (t === undefined || !/^\d{1,12}$/.test(t) || candidates.length === 0) {
    return { ok: false, reason: "malformed" };
  }
  if (Math.abs(nowSeconds - Number(t)) > toleranceSeconds) return { ok: false, reason: "stale" };
  const expected = hex(await hmacSha256(secret, `${t}.${rawBody}`));
  // Several v1 values allow secret rotation; each is compared in constant time.
  let match = false;
  for (const candidate of candidates) match = timingSafeEqual(expected, candidate) || match;
  return match ? { ok: true } : { ok: false, reason: "mismatch" };
}
