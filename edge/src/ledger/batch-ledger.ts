import { DurableObject } from "cloudflare:workers";
import { SIGNATURE_TOLERANCE_SECONDS } from "../../../protocol/src/index.js";
import type { EdgeEnv } from "../env.js";

/**
 * How long a batchId is remembered: a signature is accepted while its `t` is within
 * 300 s of the edge's clock either way, so a captured batch can be replayed for at
 * most 600 s after it was signed; remembering each id 600 s from its first arrival
 * covers that whole window.
 */
export const REPLAY_WINDOW_MS = 2 * SIGNATURE_TOLERANCE_SECONDS * 1000;
/** Ids one shard remembers at most; past it a batch is refused 503 (never forgotten early). */
export const MAX_BATCH_IDS_PER_SHARD = 20_000;
/** Shards of the ledger: each is one object, so the check scales past one object's throughput. */
export const LEDGER_SHARDS = 16;

export type BatchClaim = "accepted" | "replayed" | "full";

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS seen_batch (
     batch_id TEXT PRIMARY KEY,
     expires_at INTEGER NOT NULL
   )`,
  "CREATE INDEX IF NOT EXISTS seen_batch_expiry ON seen_batch (expires_at)",
];

/**
 * Remembers the batchId of every signed event batch the edge accepted, so a
 * captured `POST /internal/events` cannot be replayed (409 `replayed`). One of
 * LEDGER_SHARDS objects, chosen by the id; rows live REPLAY_WINDOW_MS, are deleted
 * on every claim and by the alarm, and are bounded by MAX_BATCH_IDS_PER_SHARD.
 */
export class BatchLedger extends DurableObject<EdgeEnv> {
  /** Row count, read once from SQLite and kept in step by claim/release/purge. */
  private rows: number;
  /** The clock; a test may replace it. */
  now: () => number = () => Date.now();

  constructor(ctx: DurableObjectState, env: EdgeEnv) {
    super(ctx, env);
    for (const statement of SCHEMA) ctx.storage.sql.exec(statement);
    this.rows = ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM seen_batch").one().n;
  }

  /** Records `batchId` unless it is already recorded (replayed) or the shard is full. */
  async claim(batchId: string): Promise<BatchClaim> {
    const now = this.now();
    this.purge(now);
    const seen = this.ctx.storage.sql
      .exec("SELECT 1 FROM seen_batch WHERE batch_id = ?", batchId)
      .toArray().length;
    if (seen > 0) return "replayed";
    if (this.rows >= MAX_BATCH_IDS_PER_SHARD) return "full";
    const expiresAt = now + REPLAY_WINDOW_MS;
    this.ctx.storage.sql.exec(
      "INSERT INTO seen_batch (batch_id, expires_at) VALUES (?, ?)",
      batchId,
      expiresAt,
    );
    this.rows += 1;
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(expiresAt);
    return "accepted";
  }

  /** Forgets `batchId` after its delivery failed, so the broker may send the same batch again. */
  release(batchId: string): void {
    this.rows -= this.deleted("DELETE FROM seen_batch WHERE batch_id = ? RETURNING 1", batchId);
  }

  override async alarm(): Promise<void> {
    this.purge(this.now());
    const { next } = this.ctx.storage.sql
      .exec<{ next: number | null }>("SELECT MIN(expires_at) AS next FROM seen_batch")
      .one();
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }

  private purge(nowMs: number): void {
    this.rows -= this.deleted("DELETE FROM seen_batch WHERE expires_at <= ? RETURNING 1", nowMs);
  }

  /** Rows a DELETE … RETURNING removed (`rowsWritten` would also count index writes). */
  private deleted(statement: string, binding: string | number): number {
    return this.ctx.storage.sql.exec(statement, binding).toArray().length;
  }
}

/** The ledger shard that owns `batchId` (a stable hash of the id; the ids are random UUIDs). */
export function ledgerFor(env: EdgeEnv, batchId: string): DurableObjectStub<BatchLedger> {
  let hash = 0;
  for (let i = 0; i < batchId.length; i++) hash = (hash * 31 + batchId.charCodeAt(i)) >>> 0;
  return env.BATCH_LEDGER.getByName(`batch-ledger-${hash % LEDGER_SHARDS}`);
}
