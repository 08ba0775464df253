/**
 * Users Rails cut off from this device (`POST /v1/users/{sub}/disconnect`), in the
 * object's SQLite. A token that user already holds stays valid until its `exp`, so
 * closing their sockets alone would let them straight back in: until every token
 * issued before the cut-off has expired (CLIENT_JWT_MAX_TTL_SECONDS + leeway), a
 * token of that user is refused unless its `iat` is later than the cut-off.
 * Bounded: at most `maxRows` users per device; rows are deleted when they expire.
 */
const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS user_cutoff (
     sub TEXT PRIMARY KEY,
     cut_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   )`,
  "CREATE INDEX IF NOT EXISTS user_cutoff_expiry ON user_cutoff (expires_at)",
];

export class UserCutoffs {
  constructor(
    private readonly sql: SqlStorage,
    private readonly maxRows: number,
  ) {
    for (const statement of SCHEMA) sql.exec(statement);
  }

  /** Remembers that `sub` was cut off at `cutAtMs` until `expiresAtMs`. */
  record(sub: string, cutAtMs: number, expiresAtMs: number): void {
    this.purge(cutAtMs);
    this.sql.exec(
      `INSERT INTO user_cutoff (sub, cut_at, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (sub) DO UPDATE SET cut_at = excluded.cut_at, expires_at = excluded.expires_at`,
      sub,
      cutAtMs,
      expiresAtMs,
    );
    const { rows } = this.sql.exec<{ rows: number }>("SELECT COUNT(*) AS rows FROM user_cutoff").one();
    if (rows > this.maxRows) {
      console.warn("edge: cut-off list full, forgetting the soonest to expire", { rows, max: this.maxRows });
      this.sql.exec(
        "DELETE FROM user_cutoff WHERE sub IN (SELECT sub FROM user_cutoff ORDER BY expires_at LIMIT ?)",
        rows - this.maxRows,
      );
    }
  }

  /** True when a token of `sub` issued at `iatSeconds` (null: unknown) predates a live cut-off. */
  refuses(sub: string, iatSeconds: number | null, nowMs: number): boolean {
    const row = this.sql
      .exec<{ cut_at: number }>("SELECT cut_at FROM user_cutoff WHERE sub = ? AND expires_at > ?", sub, nowMs)
      .toArray()[0];
    if (row === undefined) return false;
    return iatSeconds === null || iatSeconds <= Math.floor(row.cut_at / 1000);
  }

  purge(nowMs: number): void {
    this.sql.exec("DELETE FROM user_cutoff WHERE expires_at <= ?", nowMs);
  }

  /** When the next row expires (epoch ms), or null when there is none. */
  nextExpiry(): number | null {
    const { next } = this.sql
      .exec<{ next: number | null }>("SELECT MIN(expires_at) AS next FROM user_cutoff")
      .one();
    return next;
  }
}
