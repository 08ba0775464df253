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
  // Device-side (results published by the SDK)
  UnknownCommand: "unknown_command",
  HandlerError: "handler_error",
  HandlerTimeout: "handler_timeout",
  InvalidCommand: "invalid_command",
  CommandExpired: "command_expired",
  // Edge WebSocket
  InvalidFrame: "invalid_frame",
  FrameTooLarge: "frame_too_large",
  TooManySockets: "too_many_sockets",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

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
