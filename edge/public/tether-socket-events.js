// @ts-check
/**
 * A WebSocket's four callbacks — browser, Node `ws` and React Native alike — as
 * plain values, and silence once the client has moved on from the socket. The
 * handlers stay attached for the socket's life (Node `ws` throws on an unhandled
 * `error` event); `isCurrent()` is asked on every callback instead.
 */

/**
 * @typedef {import("./tether-client-options.js").WebSocketLike} WebSocketLike
 * @typedef {{
 *   open(): void,
 *   message(data: unknown): void,
 *   error(message: string): void,
 *   close(opened: boolean, code: number, reason: string): void,
 * }} SocketHandlers
 */

/** @param {unknown} event @param {string} key */
function field(event, key) {
  return typeof event === "object" && event !== null ? Reflect.get(event, key) : undefined;
}

/**
 * Wires `ws` to `on`; `close` says whether the socket had opened (a refused upgrade
 * never does) and defaults a missing code to 1006, as browsers report it.
 * @example watchSocket(ws, () => generation === current, { open, message, error, close });
 * @param {WebSocketLike} ws
 * @param {() => boolean} isCurrent
 * @param {SocketHandlers} on
 */
export function watchSocket(ws, isCurrent, on) {
  let opened = false;
  ws.onopen = () => {
    if (!isCurrent()) return;
    opened = true;
    on.open();
  };
  ws.onmessage = (/** @type {unknown} */ event) => {
    if (isCurrent()) on.message(field(event, "data"));
  };
  ws.onerror = (/** @type {unknown} */ event) => {
    const message = field(event, "message");
    if (isCurrent()) on.error(typeof message === "string" ? message : "");
  };
  ws.onclose = (/** @type {unknown} */ event) => {
    if (!isCurrent()) return;
    const code = field(event, "code");
    const reason = field(event, "reason");
    on.close(opened, typeof code === "number" ? code : 1006, typeof reason === "string" ? reason : "");
  };
}
