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
  /** Rows past the retention (never served) are deleted at most this often. */
  sweepEveryMs: 3600 * 1000,
} as const;

export type CommandLogLimits = { retentionMs: number; maxRows: number; sweepEveryMs: number };
/** A stored outcome (JSON text), or null while the command has none. */
type Json = string | null;

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
 * statements only; bounded by COMMAND_LOG_LIMITS, and rows past the retention are never
 * served.
 *
 * The bound costs a command next to nothing: the object counts its rows once (on its
 * first write after it starts), then knows from each insert whether it added a row, and
 * only past `maxRows` deletes the least recently updated, through the `updated_at` index.
 * Pruning with `ORDER BY … OFFSET maxRows` on every write read the whole table each time:
 * 2,015 rows read and 10 statements per command once a device had 1,000 commands
 * (test/edge/command-log-cost.test.ts, docs/EDGE.md). Rows past the retention are swept
 * at the first write and then at most once per `sweepEveryMs`.
 */
export class CommandLog {
  /** Rows in the table, once counted; null = count at the next write. */
  #rows: number | null = null;
  /** ms: the next write at or after this sweeps the rows past the retention. */
  #sweepDueAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly sql: SqlStorage,
    private readonly limits: CommandLogLimits = COMMAND_LOG_LIMITS,
  ) {
    for (const statement of SCHEMA) sql.exec(statement);
  }

  /** The edge is about to send the command to the broker. */
  pending(id: string, now: number): void {
    const added = this.#insert(id, "pending", now, null, null);
    this.#afterWrite(added, now);
  }

  /** The broker answered 202: the command waits in the device's session until `expiresAt`. */
  queued(id: string, expiresAt: number, now: number): void {
    const updated = this.sql.exec(
      `UPDATE command_log SET status = 'queued', expires_at = ?, updated_at = ?
       WHERE id = ? AND status = 'pending'`,
      expiresAt,
      now,
      id,
    );
    const added = updated.rowsWritten === 0 && this.#insert(id, "queued", now, expiresAt, null);
    this.#afterWrite(added, now);
  }

  /**
   * The command's final result. From the broker's HTTP answer it never replaces one
   * already recorded; from a `command_result` event (`authoritative`) it always does.
   */
  done(result: CommandResult, now: number, authoritative: boolean): void {
    const outcome: Outcome = result.ok
      ? { ok: true, result: result.result }
      : { ok: false, error: result.error };
    const json = JSON.stringify(outcome);
    const updated = this.sql.exec(
      `UPDATE command_log SET status = 'done', outcome = ?, updated_at = ?
       WHERE id = ? AND (? OR status != 'done')`,
      json,
      now,
      result.id,
      authoritative ? 1 : 0,
    );
    const added = updated.rowsWritten === 0 && this.#insert(result.id, "done", now, null, json);
    this.#afterWrite(added, now);
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

  /** Inserts the command's row unless it exists (an insert never replaces one); true when it added one. */
  #insert(id: string, status: string, now: number, expiresAt: number | null, outcome: Json): boolean {
    const cursor = this.sql.exec(
      `INSERT INTO command_log (id, status, created_at, updated_at, expires_at, outcome)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      id,
      status,
      now,
      now,
      expiresAt,
      outcome,
    );
    return cursor.rowsWritten > 0;
  }

  /** Keeps the bounds after a write that `added` a row or not. */
  #afterWrite(added: boolean, now: number): void {
    const { retentionMs, maxRows, sweepEveryMs } = this.limits;
    if (now >= this.#sweepDueAt) {
      this.#sweepDueAt = now + sweepEveryMs;
      const swept = this.sql.exec("DELETE FROM command_log WHERE updated_at < ?", now - retentionMs);
      if (swept.rowsWritten > 0) this.#rows = null;
    }
    if (this.#rows === null) {
      this.#rows = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM command_log").one().n;
    } else if (added) {
      this.#rows++;
    }
    if (this.#rows <= maxRows) return;
    this.sql.exec(
      "DELETE FROM command_log WHERE id IN (SELECT id FROM command_log ORDER BY updated_at LIMIT ?)",
      this.#rows - maxRows,
    );
    this.#rows = maxRows;
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
