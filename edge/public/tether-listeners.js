// @ts-check
/**
 * The listeners an app registers on a TetherClient, per event type. Listeners are
 * added by the app, not by traffic, so the sets need no bound; `on()` returns
 * the function that removes one.
 *
 * @typedef {import("./tether-client.js").TetherClientEventMap} TetherClientEventMap
 */
import { TetherClientError } from "./tether-client-error.js";

export class ClientListeners {
  #sets = {
    /** @type {Set<(payload: TetherClientEventMap["snapshot"]) => void>} */ snapshot: new Set(),
    /** @type {Set<(payload: TetherClientEventMap["event"]) => void>} */ event: new Set(),
    /** @type {Set<(payload: TetherClientEventMap["desired"]) => void>} */ desired: new Set(),
    /** @type {Set<(payload: TetherClientEventMap["status"]) => void>} */ status: new Set(),
    /** @type {Set<(payload: TetherClientEventMap["error"]) => void>} */ error: new Set(),
  };

  /**
   * @example const off = listeners.on("status", (status) => console.log(status.state));
   * @template {keyof TetherClientEventMap} K
   * @param {K} type
   * @param {(payload: TetherClientEventMap[K]) => void} listener
   * @returns {() => void}
   */
  on(type, listener) {
    const set = /** @type {Set<(payload: TetherClientEventMap[K]) => void>} */ (this.#sets[type]);
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /**
   * Calls every listener of `type`. A throwing listener must not break the connection
   * nor silence the others: it is reported as a `listener_error` error, and a throwing
   * `error` listener on the console (reporting it as an error again could loop).
   * @template {keyof TetherClientEventMap} K
   * @param {K} type
   * @param {TetherClientEventMap[K]} payload
   */
  emit(type, payload) {
    const set = /** @type {Set<(payload: TetherClientEventMap[K]) => void>} */ (this.#sets[type]);
    for (const listener of [...set]) {
      try {
        listener(payload);
      } catch (cause) {
        if (type === "error") console.error("TetherClient: an error listener threw", cause);
        else
          this.emit("error", new TetherClientError("listener_error", `a ${type} listener threw`, { cause }));
      }
    }
  }
}
