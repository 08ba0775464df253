/**
 * Error codes shared by every surface, and the one wire shape they travel in:
 * `{"error": {"code": string, "message": string}}` (plus `"id"` where a command id exists).
 */
export const ErrorCode = {
  InvalidRequest: "invalid_request",
  Unauthorized: "unauthorized",
  Forbidden: "forbidden",
  NotFound: "not_found",
  DeviceOffline: "device_offline",
  Timeout: "timeout",
  RateLimited: "rate_limited",
  BrokerUnavailable: "broker_unavailable",
  PayloadTooLarge: "payload_too_large",
  Internal: "internal_error",
  /** The server sheds load it cannot serve now; `Retry-After` says when to try again. */
  Overloaded: "overloaded",
  /** A signed event batch whose `batchId` the edge has already accepted. */
  Replayed: "replayed",
  /** `If-Match` named a version that is no longer current. */
  VersionConflict: "version_conflict",
  /** The device's credential was revoked. */
  Revoked: "revoked",
  /** Fleet jobs: the account already runs `JOB_LIMITS.maxRunningJobs` jobs (429). */
  TooManyJobs: "too_many_jobs",
  /** Fleet jobs: an `Idempotency-Key` sent again with a different body (409). */
  IdempotencyConflict: "idempotency_conflict",
  // Device-side (results published by the SDK)
  UnknownCommand: "unknown_command",
  HandlerError: "handler_error",
  HandlerTimeout: "handler_timeout",
  InvalidCommand: "invalid_command",
  CommandExpired: "command_expired",
  /** A queued command whose persistent session was reaped (or revoked) before delivery. */
  SessionExpired: "session_expired",
  // Edge WebSocket
  InvalidFrame: "invalid_frame",
  FrameTooLarge: "frame_too_large",
  TooManySockets: "too_many_sockets",
  /** The socket's token expired (close code 4401). */
  TokenExpired: "token_expired",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Every `429` and `503` carries this header: whole seconds after which a retry may succeed
 * (RFC 9110 §10.2.3). The edge passes the broker's through unchanged.
 */
export const RETRY_AFTER_HEADER = "Retry-After";

export interface ErrorInfo {
  code: string;
  message: string;
}

export interface ErrorBody {
  error: ErrorInfo;
  id?: string;
}

/** A typed error that maps to the wire shape; `status` is the HTTP status where one applies. */
export class TetherError extends Error {
  readonly code: string;
  readonly status: number;
  readonly commandId: string | undefined;

  constructor(
    code: string,
    message: string,
    options: { status?: number; cause?: unknown; commandId?: string } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "TetherError";
    this.code = code;
    this.status = options.status ?? 500;
    this.commandId = options.commandId;
  }

  toBody(): ErrorBody {
    return errorBody(this.code, this.message, this.commandId);
  }
}

/** Builds the one documented error body. */
export function errorBody(code: string, message: string, id?: string): ErrorBody {
  return id === undefined ? { error: { code, message } } : { id, error: { code, message } };
}
