// @ts-check
/**
 * Pure decisions of the reconnect loop: where to connect, how long to wait,
 * and when a failure means "stop, the token is refused".
 */
import { TetherClientError } from "./tether-client-error.js";
import { isDeviceId } from "./tether-frames.js";

/** Application close codes the edge may use after the upgrade, and 1008 (policy violation). */
const AUTH_CLOSE_CODES = new Set([1008, 4401, 4403]);
/** "Unexpected server response: 401" (ws), "…but was '403 Forbidden'" (OkHttp), "…response code … 401" (iOS). */
const AUTH_ERROR_PATTERN = /\b(?:response|code|status|was)\b\D{0,20}\b40[13]\b/i;
/** RFC 7230 token characters: anything else makes `new WebSocket` throw. */
const SUBPROTOCOL_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** 2^30 × any sane base is far past any cap; stops the power from overflowing. */
const MAX_BACKOFF_EXPONENT = 30;
const SCHEMES = new Map([
  ["http:", "ws:"],
  ["https:", "wss:"],
  ["ws:", "ws:"],
  ["wss:", "wss:"],
]);

/**
 * Builds the socket URL: `${baseUrl}/v1/devices/${deviceId}/ws` on ws(s).
 * @example deviceSocketUrl("https://edge.example", "router-1") // "wss://edge.example/v1/devices/router-1/ws"
 * @param {string} baseUrl
 * @param {string} deviceId
 * @returns {string}
 */
export function deviceSocketUrl(baseUrl, deviceId) {
  if (!isDeviceId(deviceId)) {
    throw new TetherClientError("invalid_request", "deviceId must match [A-Za-z0-9_-]{1,64}");
  }
  let url;
  try {
    url = new URL(baseUrl);
  } catch (cause) {
    throw new TetherClientError("invalid_request", `baseUrl is not an absolute URL: ${baseUrl}`, { cause });
  }
  const scheme = SCHEMES.get(url.protocol);
  if (scheme === undefined)
    throw new TetherClientError("invalid_request", "baseUrl must be http(s) or ws(s)");
  url.protocol = scheme;
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/v1/devices/${deviceId}/ws`;
  url.search = "";
  url.hash = "";
  return url.toString();
}

/**
 * Capped exponential backoff with full jitter: random × min(max, base × 2^attempt).
 * @example backoffDelay(3, 0.5, 500, 30_000) // 2000
 * @param {number} attempt 0 for the first retry
 * @param {number} random in [0, 1)
 * @param {number} baseMs
 * @param {number} maxMs
 */
export function backoffDelay(attempt, random, baseMs, maxMs) {
  const ceiling = baseMs * 2 ** Math.min(attempt, MAX_BACKOFF_EXPONENT);
  return Math.floor(random * Math.min(maxMs, ceiling));
}

/**
 * True when a socket's end says the token or device was refused. Browsers hide
 * the HTTP status of a refused upgrade; Node `ws` and React Native put it in
 * the error message, and the edge may close with 4401/4403 after the upgrade.
 * @example isAuthFailure(1006, "Unexpected server response: 401") // true
 * @param {number} closeCode
 * @param {string} errorMessage
 */
export function isAuthFailure(closeCode, errorMessage) {
  return AUTH_CLOSE_CODES.has(closeCode) || AUTH_ERROR_PATTERN.test(errorMessage);
}

/**
 * True when `token` can travel as a `Sec-WebSocket-Protocol` value (a JWT can).
 * @example isSubprotocolToken("a.b.c") // true
 * @param {unknown} token
 * @returns {token is string}
 */
export function isSubprotocolToken(token) {
  return typeof token === "string" && SUBPROTOCOL_TOKEN.test(token);
}

/**
 * The token for the next attempt: the string, or what the token function returns.
 * A throwing function is worth retrying (`retry: true`, e.g. a refresh that hit the
 * network); a token that cannot travel as a subprotocol value never will be.
 * @example const got = await obtainToken(() => fetchJwt()); if (got.ok) use(got.token);
 * @param {string | (() => string | Promise<string>)} source
 * @returns {Promise<{ ok: true, token: string } | { ok: false, retry: boolean, error: TetherClientError }>}
 */
export async function obtainToken(source) {
  let token;
  try {
    token = typeof source === "function" ? await source() : source;
  } catch (cause) {
    return {
      ok: false,
      retry: true,
      error: new TetherClientError("token_error", "the token function failed", { cause }),
    };
  }
  if (isSubprotocolToken(token)) return { ok: true, token };
  return {
    ok: false,
    retry: false,
    error: new TetherClientError("token_error", "token is empty or not a subprotocol-safe string"),
  };
}
