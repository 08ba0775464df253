import { JOB_OUTCOMES, type JobCounts, type JobStatus } from "../../../protocol/src/index.js";
import type { JobPlan } from "./job-schemas.js";
import type { Place } from "./pacing.js";

/**
 * One job's plan and per-router outcomes in its FleetJob's SQLite. A target row's
 * `state` is a public outcome, or `sent` (in flight, reported as `pending`).
 *
 * Storage per job (docs/EDGE.md, "Fleet jobs"): one row per target (≤ 100,000), each
 * the device id (≤ 64 B), a few integers, an error (code + message ≤ 200 B) and the
 * router's result clipped to MAX_RESULT_BYTES — at most ~80 MB for the largest job,
 * ~10 MB typically; all of it is deleted JOB_RETENTION_DAYS after the job ends.
 */

/** A router's result kept per target; a larger one is stored as `{"truncated":true,"bytes":n}`. */
export const MAX_RESULT_BYTES = 512;
const MAX_MESSAGE_CHARS = 200;
/** Ids per INSERT (json_each over one bound string, below SQLite's 2 MB argument bound). */
const INSERT_CHUNK = 10_000;

export type TargetState = "pending" | "sent" | "queued" | "succeeded" | "failed" | "timed_out" | "offline";

export interface JobMeta {
  id: string;
  plan: Omit<JobPlan, "targets">;
  status: JobStatus;
  reason: string | null;
  total: number;
  createdAt: number;
  endedAt: number | null;
}

export type TargetRow = {
  seq: number;
  device: string;
  state: TargetState;
  attempts: number;
  updated_at: number | null;
  error_code: string | null;
  error_message: string | null;
  result: string | null;
};

export interface Final {
  state: Exclude<TargetState, "pending" | "sent">;
  error?: { code: string; message: string } | undefined;
  result?: unknown;
  /** For `queued`: when the broker stops trying to deliver it. */
  expiresAt?: number;
}

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS job (
     id TEXT PRIMARY KEY, plan TEXT NOT NULL, status TEXT NOT NULL, reason TEXT,
     total INTEGER NOT NULL, created_at INTEGER NOT NULL, ended_at INTEGER)`,
  `CREATE TABLE IF NOT EXISTS target (
     seq INTEGER PRIMARY KEY, device TEXT NOT NULL UNIQUE, state TEXT NOT NULL DEFAULT 'pending',
     attempts INTEGER NOT NULL DEFAULT 0, retry_at INTEGER NOT NULL DEFAULT 0, sent_at INTEGER,
     updated_at INTEGER, expires_at INTEGER, error_code TEXT, error_message TEXT, result TEXT)`,
  "CREATE INDEX IF NOT EXISTS target_state ON target (state, seq)",
  "CREATE INDEX IF NOT EXISTS target_sent ON target (sent_at)",
  "CREATE TABLE IF NOT EXISTS tally (state TEXT PRIMARY KEY, n INTEGER NOT NULL)",
];

const encoder = new TextEncoder();

function clipResult(result: unknown): string | null {
  if (result === undefined) return null;
  const text = JSON.stringify(result) ?? "null";
  const bytes = encoder.encode(text).byteLength;
  return bytes <= MAX_RESULT_BYTES ? text : JSON.stringify({ truncated: true, bytes });
}

export class JobStore {
  /** Rows per state, kept in step with every transition (the `tally` table persists it). */
  private readonly tally = new Map<TargetState, number>();

  private readonly sql: SqlStorage;

  constructor(private readonly storage: DurableObjectStorage) {
    this.sql = storage.sql;
    this.open();
  }

  /** Creates the tables (again, after the job was deleted) and reads the tallies. */
  open(): void {
    for (const statement of SCHEMA) this.sql.exec(statement);
    this.tally.clear();
    for (const row of this.sql.exec<{ state: TargetState; n: number }>("SELECT state, n FROM tally")) {
      this.tally.set(row.state, row.n);
    }
  }

  meta(): JobMeta | null {
    const row = this.sql
      .exec<{
        id: string;
        plan: string;
        status: JobStatus;
        reason: string | null;
        total: number;
        created_at: number;
        ended_at: number | null;
      }>("SELECT * FROM job")
      .toArray()[0];
    if (!row) return null;
    return {
      id: row.id,
      // Written by create() below from a validated plan; never from outside.
      plan: JSON.parse(row.plan) as JobMeta["plan"],
      status: row.status,
      reason: row.reason,
      total: row.total,
      createdAt: row.created_at,
      endedAt: row.ended_at,
    };
  }

  /** Stores the plan and its targets in one transaction: a failed write leaves no half-made job. */
  create(id: string, plan: JobPlan, now: number): void {
    const { targets, ...rest } = plan;
    this.storage.transactionSync(() => this.insert(id, rest, targets, now));
    this.tally.set("pending", targets.length);
  }

  private insert(id: string, rest: Omit<JobPlan, "targets">, targets: string[], now: number): void {
    this.sql.exec(
      "INSERT INTO job (id, plan, status, total, created_at) VALUES (?, ?, 'running', ?, ?)",
      id,
      JSON.stringify(rest),
      targets.length,
      now,
    );
    for (let i = 0; i < targets.length; i += INSERT_CHUNK) {
      const chunk = JSON.stringify(targets.slice(i, i + INSERT_CHUNK));
      this.sql.exec("INSERT INTO target (device) SELECT value FROM json_each(?) ORDER BY key", chunk);
    }
    this.writeTally("pending", targets.length);
  }

  end(status: Exclude<JobStatus, "running">, reason: string | null, now: number): void {
    this.sql.exec("UPDATE job SET status = ?, reason = ?, ended_at = ?", status, reason, now);
  }

  count(state: TargetState): number {
    return this.tally.get(state) ?? 0;
  }

  /** Public counts: `sent` (in flight) is reported as `pending`. */
  counts(): JobCounts {
    const counts = Object.fromEntries(JOB_OUTCOMES.map((o) => [o, this.count(o)])) as JobCounts;
    counts.pending += this.count("sent");
    return counts;
  }

  /** Up to `limit` never-sent (or due for a retry) targets, in plan order. */
  due(limit: number, now: number): { seq: number; device: string; attempts: number }[] {
    if (limit <= 0) return [];
    return this.sql
      .exec<{ seq: number; device: string; attempts: number }>(
        "SELECT seq, device, attempts FROM target WHERE state = 'pending' AND retry_at <= ? ORDER BY seq LIMIT ?",
        now,
        limit,
      )
      .toArray();
  }

  /** The soonest retry among pending targets, or null. */
  nextRetry(): number | null {
    return this.sql
      .exec<{ t: number | null }>("SELECT MIN(retry_at) AS t FROM target WHERE state = 'pending'")
      .one().t;
  }

  markSent(seq: number, now: number): boolean {
    return this.move(
      seq,
      "pending",
      "sent",
      "attempts = attempts + 1, sent_at = ?, updated_at = ?",
      now,
      now,
    );
  }

  /** Back to `pending` after a transient refusal (429, 503, broker unreachable), retried at `retryAt`. */
  retryLater(seq: number, retryAt: number, now: number): boolean {
    return this.move(seq, "sent", "pending", "retry_at = ?, updated_at = ?", retryAt, now);
  }

  /** Every `sent` row back to `pending`: the object restarted, so no answer will come for them. */
  requeueOrphans(): number {
    const n = this.sql
      .exec("UPDATE target SET state = 'pending' WHERE state = 'sent' RETURNING 1")
      .toArray().length;
    if (n > 0) {
      this.setTally("sent", 0);
      this.setTally("pending", this.count("pending") + n);
    }
    return n;
  }

  /**
   * The commands sent after `sinceMs`, as the pacer's places (a restart keeps them): a row
   * with its outcome recorded was answered by then at the latest; one sent again since
   * (a retry, or in flight at the restart) counts as never answered.
   */
  placesSince(sinceMs: number): Place[] {
    return this.sql
      .exec<{ sent_at: number; state: TargetState; updated_at: number | null }>(
        "SELECT sent_at, state, updated_at FROM target WHERE sent_at > ? ORDER BY sent_at",
        sinceMs,
      )
      .toArray()
      .map((row) => ({
        sentAt: row.sent_at,
        answeredAt: row.state === "pending" || row.state === "sent" ? null : row.updated_at,
      }));
  }

  /** Records a final (or queued) outcome of a row that is in one of `from`; false when it was not. */
  finish(seq: number, from: TargetState[], final: Final, now: number): boolean {
    const current = this.sql
      .exec<{ state: TargetState }>("SELECT state FROM target WHERE seq = ?", seq)
      .toArray()[0];
    if (!current || !from.includes(current.state)) return false;
    return this.move(
      seq,
      current.state,
      final.state,
      "updated_at = ?, expires_at = ?, error_code = ?, error_message = ?, result = ?",
      now,
      final.expiresAt ?? null,
      final.error?.code ?? null,
      final.error ? final.error.message.slice(0, MAX_MESSAGE_CHARS) : null,
      clipResult(final.result),
    );
  }

  seqOf(device: string): number | null {
    return (
      this.sql.exec<{ seq: number }>("SELECT seq FROM target WHERE device = ?", device).toArray()[0]?.seq ??
      null
    );
  }

  /** Queued rows whose delivery window ended (plus a grace for the broker's own sweep). */
  expiredQueued(before: number): number[] {
    return this.sql
      .exec<{ seq: number }>("SELECT seq FROM target WHERE state = 'queued' AND expires_at < ?", before)
      .toArray()
      .map((row) => row.seq);
  }

  nextQueuedExpiry(): number | null {
    return this.sql
      .exec<{ t: number | null }>("SELECT MIN(expires_at) AS t FROM target WHERE state = 'queued'")
      .one().t;
  }

  /** A page of rows after `afterSeq`, optionally of one public outcome. */
  page(outcome: string | undefined, afterSeq: number, limit: number): TargetRow[] {
    const states = outcome === undefined ? null : outcome === "pending" ? ["pending", "sent"] : [outcome];
    const filter = states ? `AND state IN (${states.map(() => "?").join(", ")})` : "";
    return this.sql
      .exec<TargetRow>(
        `SELECT seq, device, state, attempts, updated_at, error_code, error_message, result
           FROM target WHERE seq > ? ${filter} ORDER BY seq LIMIT ?`,
        afterSeq,
        ...(states ?? []),
        limit,
      )
      .toArray();
  }

  /**
   * Moves one row from `from` to `to` (and sets `set`); false when it was not in `from`.
   * The row and both tallies change in one transaction, and the in-memory tallies only
   * after it committed: a statement that fails (e.g. SQLITE_NOMEM while the process is
   * short of memory) leaves row and tallies as they were, so the move can be retried.
   */
  private move(
    seq: number,
    from: TargetState,
    to: TargetState,
    set: string,
    ...values: (number | string | null)[]
  ): boolean {
    const moved = this.storage.transactionSync(() => {
      const n = this.sql
        .exec(
          `UPDATE target SET state = ?, ${set} WHERE seq = ? AND state = ? RETURNING 1`,
          to,
          ...values,
          seq,
          from,
        )
        .toArray().length;
      if (n === 0) return false;
      this.writeTally(from, this.count(from) - 1);
      this.writeTally(to, this.count(to) + 1);
      return true;
    });
    if (!moved) return false;
    this.tally.set(from, this.count(from) - 1);
    this.tally.set(to, this.count(to) + 1);
    return true;
  }

  private setTally(state: TargetState, n: number): void {
    this.writeTally(state, n);
    this.tally.set(state, n);
  }

  private writeTally(state: TargetState, n: number): void {
    this.sql.exec(
      "INSERT INTO tally (state, n) VALUES (?, ?) ON CONFLICT (state) DO UPDATE SET n = excluded.n",
      state,
      n,
    );
  }
}
