import {
  type CommandResult,
  type CommandResultEvent,
  type CommandStatus,
  ErrorCode,
  isRecord,
  parseCommandResult,
  parseJson,
} from "../../../protocol/src/index.js";

/** How long, and how many, commands a device's channel remembers (docs/EDGE.md, "Command status"). */
export const COMMAND_LOG_LIMITS = {
  /** A command not updated for this long is forgotten (404). */
  retentionMs: 7 * 24 * 3600 * 1000,
  /** Most commands remembered per device; the least recently updated go first. */
  maxRows: 1000,
} as const;

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS command_log (
     id TEXT PRIMARY KEY,
     status TEXT NOT NULL CHECK (status IN ('pending', 'queued', 'done')),
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     expires_at INTEGER,
     outcome TEXT
   )`,
  "CREATE INDEX IF NOT EXISTS command_log_updated ON command_log (updated_at)",
];

type CommandRow = {
  id: string;
  status: string;
  created_at: number;
  updated_at: number;
  expires_at: number | null;
  outcome: string | null;
};

/** The final outcome of a command, as stored: the result object without its id. */
type Outcome = { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } };

/**
 * Where each command sent through the edge stands, for `GET
 * /v1/devices/{id}/commands/{commandId}` (issue 12): `pending` while the broker has
 * not answered, `queued` after its 202, `done` with the final result — the broker's
 * answer, or the `command_result` event that ends a queued command (which always wins:
 * it is the broker's last word). In the device's Durable Object SQLite, parameterised
 * statements only; bounded by COMMAND_LOG_LIMITS, pruned on every insert, and rows
 * past the retention are never served.
 */
export class CommandLog {
  constructor(
    private readonly sql: SqlStorage,
    private readonly limits: { retentionMs: number; maxRows: number } = COMMAND_LOG_LIMITS,
  ) {
    for (const statement of SCHEMA) sql.exec(statement);
  }

  /** The edge is about to send the command to the broker. */
  pending(id: string, now: number): void {
    this.sql.exec(
      `INSERT INTO command_log (id, status, created_at, updated_at) VALUES (?, 'pending', ?, ?)
       ON CONFLICT (id) DO NOTHING`,
      id,
      now,
      now,
    );
    this.prune(now);
  }

  /** The broker answered 202: the command waits in the device's session until `expiresAt`. */
  queued(id: string, expiresAt: number, now: number): void {
    this.sql.exec(
      `INSERT INTO command_log (id, status, created_at, updated_at, expires_at) VALUES (?, 'queued', ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET status = 'queued', expires_at = excluded.expires_at,
         updated_at = excluded.updated_at
       WHERE command_log.status = 'pending'`,
      id,
      now,
      now,
      expiresAt,
    );
    this.prune(now);
  }

  /**
   * The command's final result. From the broker's HTTP answer it never replaces one
   * already recorded; from a `command_result` event (`authoritative`) it always does.
   */
  done(result: CommandResult, now: number, authoritative: boolean): void {
    const outcome: Outcome = result.ok
      ? { ok: true, result: result.result }
      : { ok: false, error: result.error };
    this.sql.exec(
      `INSERT INTO command_log (id, status, created_at, updated_at, outcome) VALUES (?, 'done', ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET status = 'done', outcome = excluded.outcome, updated_at = excluded.updated_at
       WHERE ? OR command_log.status != 'done'`,
      result.id,
      now,
      now,
      JSON.stringify(outcome),
      authoritative ? 1 : 0,
    );
    this.prune(now);
  }

  /** The command's status, or null when unknown or past the retention. */
  get(deviceId: string, id: string, now: number): CommandStatus | null {
    const row = this.sql
      .exec<CommandRow>(
        `SELECT id, status, created_at, updated_at, expires_at, outcome FROM command_log
         WHERE id = ? AND updated_at >= ?`,
        id,
        now - this.limits.retentionMs,
      )
      .toArray()[0];
    return row ? toStatus(deviceId, row) : null;
  }

  private prune(now: number): void {
    this.sql.exec("DELETE FROM command_log WHERE updated_at < ?", now - this.limits.retentionMs);
    this.sql.exec(
      `DELETE FROM command_log WHERE id IN
         (SELECT id FROM command_log ORDER BY updated_at DESC LIMIT -1 OFFSET ?)`,
      this.limits.maxRows,
    );
  }
}

/** A `command_result` event as the result it carries (the guard made sure a failure has its error). */
export function resultOfEvent(event: CommandResultEvent): CommandResult {
  if (event.ok) return { id: event.id, ok: true, result: event.result };
  return {
    id: event.id,
    ok: false,
    error: event.error ?? { code: ErrorCode.Internal, message: "the command failed without an error" },
  };
}

function toStatus(deviceId: string, row: CommandRow): CommandStatus | null {
  const base = { id: row.id, deviceId, createdAt: row.created_at, updatedAt: row.updated_at };
  if (row.status === "pending") return { ...base, status: "pending" };
  if (row.status === "queued")
    return { ...base, status: "queued", expiresAt: row.expires_at ?? row.updated_at };
  // Stored rows are re-validated with the protocol's guard, like every stored event.
  const json = row.outcome === null ? null : parseJson(row.outcome);
  const parsed = json?.ok && isRecord(json.value) ? parseCommandResult({ ...json.value, id: row.id }) : null;
  if (!parsed?.ok) return null;
  const r = parsed.value;
  return r.ok
    ? { ...base, status: "done", ok: true, result: r.result }
    : { ...base, status: "done", ok: false, error: r.error };
}
