// @ts-check
/**
 * Where the console connects and how it keeps the client token (issue 11): pure
 * decisions, so they are tested without a page.
 *
 * - An `#edge=` link is used as is only when it names the page's own origin; any
 *   other origin is shown to the user in full and used only if they confirm. A
 *   crafted link must not get a stored token sent to somebody else's host.
 * - The token lives in sessionStorage (this tab only) unless "remember" is ticked
 *   (localStorage), always together with the edge origin it was entered for: a
 *   token is never offered to another origin, and switching origin forgets it.
 */
import { decodeJwtClaims } from "./console-view.js";

/** The edge's leeway for clock skew on `exp` (edge/src/auth/client-token.ts). */
const EXP_LEEWAY_MS = 60_000;

export const STORAGE_KEYS = Object.freeze({
  edge: "tether.console.edgeUrl",
  device: "tether.console.deviceId",
  token: "tether.console.token",
  tokenOrigin: "tether.console.tokenOrigin",
});

/**
 * The origin of an http(s) URL, or null for anything else (javascript:, data:, junk).
 * @param {string} text
 * @returns {string | null}
 */
export function httpOrigin(text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url.origin : null;
}

/**
 * What to do with the `edge` of a link's hash.
 * @example judgeLinkedEdge("https://evil.example", "https://edge.example") // { use: "ask", origin: "https://evil.example" }
 * @param {string} linkEdge
 * @param {string} pageOrigin
 * @returns {{ use: "as-is", origin: string } | { use: "ask", origin: string } | { use: "never" }}
 */
export function judgeLinkedEdge(linkEdge, pageOrigin) {
  const origin = httpOrigin(linkEdge);
  if (origin === null) return { use: "never" };
  return origin === pageOrigin ? { use: "as-is", origin } : { use: "ask", origin };
}

/**
 * @typedef {{ getItem(key: string): string | null, setItem(key: string, value: string): void, removeItem(key: string): void }} StorageLike
 */

/** Storage may throw (private mode, disabled storage): the console still works, unremembered. */
class SafeStorage {
  /** @type {StorageLike | null} */ #storage;

  /** @param {() => StorageLike} open */
  constructor(open) {
    try {
      this.#storage = open();
    } catch {
      this.#storage = null;
    }
  }

  /** @param {string} key */
  get(key) {
    try {
      return this.#storage?.getItem(key) ?? "";
    } catch {
      return "";
    }
  }

  /** @param {string} key @param {string} value */
  set(key, value) {
    try {
      if (value === "") this.#storage?.removeItem(key);
      else this.#storage?.setItem(key, value);
    } catch {
      // Not kept; nothing else depends on it.
    }
  }
}

/** The client token, kept per tab (or, when asked, per device) with the edge origin it belongs to. */
export class TokenVault {
  #session;
  #local;

  /**
   * @param {() => StorageLike} session e.g. `() => sessionStorage`
   * @param {() => StorageLike} local e.g. `() => localStorage`
   */
  constructor(session, local) {
    this.#session = new SafeStorage(session);
    this.#local = new SafeStorage(local);
  }

  /** True when the kept token is in localStorage ("remember" was ticked). */
  get remembered() {
    return this.#local.get(STORAGE_KEYS.token) !== "";
  }

  /**
   * The token kept for `edgeOrigin`, or "" — a token kept for another origin is forgotten.
   * @param {string} edgeOrigin
   */
  load(edgeOrigin) {
    for (const storage of [this.#session, this.#local]) {
      const token = storage.get(STORAGE_KEYS.token);
      if (token === "") continue;
      if (storage.get(STORAGE_KEYS.tokenOrigin) === edgeOrigin) return token;
      this.forget();
      return "";
    }
    return "";
  }

  /**
   * @param {string} token
   * @param {string} edgeOrigin
   * @param {boolean} remember keep it in localStorage too, beyond this tab
   */
  save(token, edgeOrigin, remember) {
    this.forget();
    const stores = remember ? [this.#session, this.#local] : [this.#session];
    for (const storage of stores) {
      storage.set(STORAGE_KEYS.token, token);
      storage.set(STORAGE_KEYS.tokenOrigin, edgeOrigin);
    }
  }

  forget() {
    for (const storage of [this.#session, this.#local]) {
      storage.set(STORAGE_KEYS.token, "");
      storage.set(STORAGE_KEYS.tokenOrigin, "");
    }
  }

  /** Non-secret settings (edge URL, device id) stay in localStorage. @param {string} key */
  setting(key) {
    return this.#local.get(key);
  }

  /** @param {string} key @param {string} value */
  keepSetting(key, value) {
    this.#local.set(key, value);
  }
}

/**
 * Why this token cannot open `deviceId`, read from its claims (for display only:
 * the edge verifies it), or null when it may. Connecting anyway would only fail
 * again and again: a browser cannot see the edge's 403.
 * @example tokenRefusal(jwt, "router-2", Date.now()) // "This token does not cover router-2 …"
 * @param {string} token
 * @param {string} deviceId
 * @param {number} nowMs
 * @returns {string | null}
 */
export function tokenRefusal(token, deviceId, nowMs) {
  const claims = decodeJwtClaims(token);
  if (claims === null) return null;
  if (Array.isArray(claims.devices) && !claims.devices.includes(deviceId)) {
    const n = claims.devices.length;
    return `This token does not cover ${deviceId} (it lists ${n} other device${n === 1 ? "" : "s"}): ask for one that does.`;
  }
  if (typeof claims.exp === "number" && claims.exp * 1000 + EXP_LEEWAY_MS <= nowMs) {
    return `This token expired at ${new Date(claims.exp * 1000).toLocaleString()}: get a fresh one.`;
  }
  return null;
}
