import { ErrorCode, TetherError } from "../../../protocol/src/index.js";

/** Seconds a client waits before it asks a FleetJob again after a transient failure. */
export const JOB_RETRY_AFTER_SECONDS = 1;

/**
 * A Durable Object's failure that says "busy now", not "wrong": the platform marks such
 * errors `retryable` or `overloaded`; workerd's storage answers SQLITE_NOMEM / SQLITE_BUSY
 * when the process is short of memory (all objects' SQLite share one heap limit; under
 * `npm run bench:jobs` with 10,000 routers, the DeviceChannels fill it), and a reset or
 * a lost connection to the object ends a call it never finished.
 */
const TRANSIENT = [
  /SQLITE_NOMEM/,
  /SQLITE_BUSY/,
  /Durable Object is overloaded/i,
  /Durable Object reset/i,
  /Network connection lost/i,
  /storage operation exceeded timeout/i,
  /internal error while starting up Durable Object storage/i,
];

export function isTransientObjectError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const flags = error as Error & { retryable?: unknown; overloaded?: unknown };
  if (flags.retryable === true || flags.overloaded === true) return true;
  return TRANSIENT.some((pattern) => pattern.test(error.message));
}

/** A transient refusal: `503 overloaded` with `Retry-After` (handleError adds the header). */
export class RetryLater extends TetherError {
  readonly retryAfterSeconds: number;

  constructor(message: string, retryAfterSeconds: number, cause: unknown) {
    super(ErrorCode.Overloaded, message, { status: 503, cause });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * Calls a FleetJob (RPC or fetch). A transient failure becomes `503 overloaded` with
 * `Retry-After: 1` instead of a bare 500: nothing of the job is lost (its alarm records
 * what it could not and retries), so asking again is safe. Other errors pass through.
 */
export async function callJob<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!isTransientObjectError(error)) throw error;
    console.warn("edge: a job object was busy; answered 503", { error: String(error) });
    throw new RetryLater("the job is busy; retry after Retry-After seconds", JOB_RETRY_AFTER_SECONDS, error);
  }
}
