import { type DesiredDocument, isRecord, parseJson } from "../../../protocol/src/index.js";

/**
 * A device's desired document and its hand-off to the broker, in the DeviceChannel's
 * SQLite (issue 15): the source of truth. One row; every query is parameterised.
 *   version, desired   the document (version 0, {} before the first patch)
 *   handed_version     the version the broker last took (200); < version means "hand it again"
 *   hand_due_at        when the next hand-off attempt is due (ms), null when none is pending
 *   hand_attempts      failed attempts in a row (the retry backoff)
 *   rehanded_at        when a stale acknowledgement last caused a hand-off (its throttle)
 */
const SCHEMA = `CREATE TABLE IF NOT EXISTS desired_state (
  singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
  version INTEGER NOT NULL,
  desired TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  handed_version INTEGER NOT NULL DEFAULT 0,
  hand_due_at INTEGER,
  hand_attempts INTEGER NOT NULL DEFAULT 0,
  rehanded_at INTEGER NOT NULL DEFAULT 0
)`;

type Row = {
  version: number;
  desired: string;
  updated_at: number;
  handed_version: number;
  hand_due_at: number | null;
  hand_attempts: number;
  rehanded_at: number;
};

export interface HandOffState {
  handedVersion: number;
  dueAt: number | null;
  attempts: number;
  rehandedAt: number;
}

export class DesiredStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(SCHEMA);
  }

  document(): DesiredDocument {
    const row = this.#row();
    if (!row) return { version: 0, desired: {} };
    const json = parseJson(row.desired);
    return { version: row.version, desired: json.ok && isRecord(json.value) ? json.value : {} };
  }

  handOff(): HandOffState {
    const row = this.#row();
    return {
      handedVersion: row?.handed_version ?? 0,
      dueAt: row?.hand_due_at ?? null,
      attempts: row?.hand_attempts ?? 0,
      rehandedAt: row?.rehanded_at ?? 0,
    };
  }

  /** Stores a new version, due for hand-off at `now`. */
  write(doc: DesiredDocument, now: number): void {
    this.sql.exec(
      `INSERT INTO desired_state (singleton, version, desired, updated_at, hand_due_at, hand_attempts)
       VALUES (1, ?, ?, ?, ?, 0)
       ON CONFLICT (singleton) DO UPDATE SET version = excluded.version, desired = excluded.desired,
         updated_at = excluded.updated_at, hand_due_at = excluded.hand_due_at, hand_attempts = 0`,
      doc.version,
      JSON.stringify(doc.desired),
      now,
      now,
    );
  }

  /** Makes a hand-off due at `at` (no earlier one pending is moved later); `rehand` records the throttle. */
  due(at: number, rehand: boolean): void {
    this.sql.exec(
      `UPDATE desired_state SET hand_due_at = MIN(COALESCE(hand_due_at, ?), ?),
         rehanded_at = CASE WHEN ? THEN ? ELSE rehanded_at END WHERE singleton = 1`,
      at,
      at,
      rehand ? 1 : 0,
      at,
    );
  }

  /** The broker took `version`: nothing is due unless a newer version was written meanwhile. */
  handed(version: number): void {
    this.sql.exec(
      `UPDATE desired_state SET handed_version = MAX(handed_version, ?), hand_attempts = 0,
         hand_due_at = CASE WHEN version > ? THEN hand_due_at ELSE NULL END WHERE singleton = 1`,
      version,
      version,
    );
  }

  /** An attempt failed: the next one is due at `at`. */
  failed(at: number): void {
    this.sql.exec(
      "UPDATE desired_state SET hand_attempts = hand_attempts + 1, hand_due_at = ? WHERE singleton = 1",
      at,
    );
  }

  #row(): Row | null {
    return (
      this.sql
        .exec<Row>(
          "SELECT version, desired, updated_at, handed_version, hand_due_at, hand_attempts, rehanded_at FROM desired_state WHERE singleton = 1",
        )
        .toArray()[0] ?? null
    );
  }
}
