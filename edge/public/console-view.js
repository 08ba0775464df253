// @ts-check
/**
 * Rendering helpers of the web console. Everything a device or the network
 * supplies reaches the DOM through textContent, never innerHTML.
 */
import { isRecord } from "./tether-frames.js";

/** @typedef {import("./tether-frames.js").TetherEvent} TetherEvent */

/** Pretty JSON is cut here so one huge state cannot freeze a phone. */
const MAX_JSON_CHARS = 20_000;

/**
 * @param {number} ms
 * @returns {string}
 */
export function clockTime(ms) {
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
}

/**
 * "12 s ago", "5 min ago", "3 h ago", "2 d ago".
 * @param {number} ms
 * @param {number} now
 */
export function relativeTime(ms, now) {
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}

/**
 * A point in time as "14:03:12 (5 min ago)", with the full date on hover.
 * @param {HTMLElement} element
 * @param {number | null} ms
 * @param {number} now
 */
export function showTime(element, ms, now) {
  element.textContent = ms === null ? "—" : `${clockTime(ms)} (${relativeTime(ms, now)})`;
  element.title = ms === null ? "" : new Date(ms).toISOString();
}

/** @param {unknown} value */
export function prettyJson(value) {
  let text;
  try {
    text = JSON.stringify(value, null, 2) ?? "null";
  } catch {
    text = String(value);
  }
  return text.length > MAX_JSON_CHARS
    ? `${text.slice(0, MAX_JSON_CHARS)}\n… (${text.length} chars, cut)`
    : text;
}

/**
 * One line saying what an event is.
 * @param {TetherEvent} event
 */
export function summarize(event) {
  switch (event.type) {
    case "state":
      return `state: ${Object.keys(event.state).length} fields`;
    case "event":
      return event.name;
    case "presence":
      return `${event.online ? "online" : "offline"} (${event.reason})`;
    case "command_result":
      return event.ok ? `result ok · ${event.id}` : `failed: ${event.error?.code ?? "error"} · ${event.id}`;
  }
}

/** @typedef {import("./tether-client.js").ConnectionState} ConnectionState */

/** What each connection state is called on screen (the raw name stays in `data-state`). */
const CONNECTION_LABELS = {
  idle: "not connected",
  connecting: "connecting",
  open: "live",
  reconnecting: "reconnecting",
  auth_or_unreachable: "can't connect",
  unauthorized: "token refused",
  closed: "disconnected",
};

/**
 * Words a user understands for a connection state.
 * @param {ConnectionState} state
 */
export function connectionLabel(state) {
  return CONNECTION_LABELS[state] ?? state;
}

/**
 * Why the edge ended the socket, in words, from its close code (4401 and 4403 are the edge's own).
 * @param {number | undefined} code
 * @returns {string}
 */
export function refusalDetail(code) {
  if (code === 4401) return "the token expired: get a fresh one";
  if (code === 4403) return "access to this device was withdrawn";
  return "token refused: get a fresh one";
}

/**
 * A command's outcome as shown under the form: a failure leads with its code.
 * @param {{ ok: boolean, error?: { code: string, message: string } }} result
 */
export function describeResult(result) {
  if (result.ok) return prettyJson(result);
  const error = result.error ?? { code: "error", message: "the command failed" };
  return `${error.code}: ${error.message}\n\n${prettyJson(result)}`;
}

/**
 * Claims of a JWT, decoded for display only (the edge verifies it; we cannot).
 * @param {string} token
 * @returns {Record<string, unknown> | null}
 */
export function decodeJwtClaims(token) {
  const payload = token.split(".")[1];
  if (payload === undefined) return null;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return isRecord(claims) ? claims : null;
  } catch {
    return null;
  }
}

/**
 * A human line about a token: who, kind, expiry, and whether it covers `deviceId`.
 * @param {string} token
 * @param {string} deviceId
 * @param {number} now
 * @returns {{ text: string, warn: boolean }}
 */
export function describeToken(token, deviceId, now) {
  if (token === "") return { text: "", warn: false };
  const claims = decodeJwtClaims(token);
  if (claims === null) return { text: "This does not look like a JWT.", warn: true };
  const parts = [];
  let warn = false;
  if (typeof claims.sub === "string") parts.push(`user ${claims.sub}`);
  if (typeof claims.kind === "string") parts.push(claims.kind);
  if (typeof claims.exp === "number") {
    const expMs = claims.exp * 1000;
    warn ||= expMs <= now;
    parts.push(expMs <= now ? `expired ${relativeTime(expMs, now)}` : `expires ${clockTime(expMs)}`);
  }
  if (Array.isArray(claims.devices)) {
    const covers = claims.devices.includes(deviceId);
    warn ||= deviceId !== "" && !covers;
    parts.push(
      deviceId === "" || covers ? `${claims.devices.length} device(s)` : `does not cover ${deviceId}`,
    );
  }
  return { text: `Token: ${parts.join(" · ")}`, warn };
}

/**
 * @typedef {{ ts: number, type: string, summary: string, payload: unknown, key: string, tone?: "bad" }} EventRow
 */

/** The events stream: newest first, deduplicated, at most `max` rows. */
export class EventList {
  /** Keys of the rows on screen: same bound as the rows, removed with them. */
  /** @type {Set<string>} */ #keys = new Set();
  #list;
  #count;
  #empty;
  #max;

  /**
   * @param {HTMLOListElement} list
   * @param {HTMLElement} count
   * @param {HTMLElement} empty
   * @param {number} max
   */
  constructor(list, count, empty, max) {
    this.#list = list;
    this.#count = count;
    this.#empty = empty;
    this.#max = max;
  }

  /**
   * Inserts a row in time order (a snapshot after a reconnect may bring older ones).
   * @param {EventRow} row
   */
  add(row) {
    if (this.#keys.has(row.key)) return;
    const before = [...this.#list.children].find((li) => Number(li.getAttribute("data-ts")) < row.ts);
    if (before === undefined && this.#list.children.length >= this.#max) return;
    this.#list.insertBefore(this.#render(row), before ?? null);
    this.#keys.add(row.key);
    while (this.#list.children.length > this.#max) {
      const last = this.#list.lastElementChild;
      if (last === null) break;
      this.#keys.delete(last.getAttribute("data-key") ?? "");
      last.remove();
    }
    this.#updateCount();
  }

  clear() {
    this.#list.replaceChildren();
    this.#keys.clear();
    this.#updateCount();
  }

  #updateCount() {
    const n = this.#list.children.length;
    this.#count.textContent = n === 0 ? "" : `(${n}${n >= this.#max ? ", newest kept" : ""})`;
    this.#empty.hidden = n > 0;
  }

  /** @param {EventRow} row */
  #render(row) {
    const li = document.createElement("li");
    li.className = "event-row";
    li.dataset.testid = "event-row";
    li.dataset.type = row.type;
    li.dataset.ts = String(row.ts);
    li.dataset.key = row.key;
    if (row.tone) li.dataset.tone = row.tone;
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    const time = document.createElement("time");
    time.dateTime = new Date(row.ts).toISOString();
    time.textContent = clockTime(row.ts);
    const type = document.createElement("span");
    type.className = "kind";
    type.textContent = row.type;
    const text = document.createElement("span");
    text.className = "summary";
    text.textContent = row.summary;
    summary.append(time, type, text);
    const body = document.createElement("pre");
    body.className = "json";
    body.textContent = prettyJson(row.payload);
    details.append(summary, body);
    li.append(details);
    return li;
  }
}
