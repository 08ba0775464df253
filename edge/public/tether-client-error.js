// @ts-check

/**
 * An error with a wire code: the client's own (`timeout`, `not_connected`,
 * `connection_closed`, `rate_limited`, `invalid_request`, `invalid_frame`,
 * `frame_too_large`, `token_error`, `listener_error`) or the edge's, from an
 * `error` frame (`source: "server"`).
 */
export class TetherClientError extends Error {
  /**
   * @example new TetherClientError("timeout", "no result within 12000 ms", { commandId: "c1" })
   * @param {string} code
   * @param {string} message
   * @param {{ cause?: unknown, commandId?: string | undefined, source?: "client" | "server" }} [options]
   */
  constructor(code, message, options = {}) {
    super(message, { cause: options.cause });
    this.name = "TetherClientError";
    this.code = code;
    this.commandId = options.commandId;
    /** `server` for an `error` frame sent by the edge. */
    this.source = options.source ?? "client";
  }
}
