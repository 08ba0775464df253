import {
  type DeviceView,
  ErrorCode,
  parseEvent,
  parseJson,
  parseState,
  TetherError,
  type TetherEvent,
} from "../../../protocol/src/index.js";

/**
 * One device's view and its ring of recent events, in the Durable Object's own
 * SQLite storage, so nothing is lost when the object hibernates or is evicted.
 * Every query is parameterised.
 */
const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS device (
     singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
     device_id TEXT NOT NULL,
     online INTEGER NOT NULL DEFAULT 0,
     since INTEGER,
     last_seen INTEGER,
     state TEXT,
     state_ts INTEGER
   )`,
  `CREATE TABLE IF NOT EXISTS recent_event (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     body TEXT NOT NULL
   )`,
];

type DeviceRow = {
  device_id: string;
  online: number;
  since: number | null;
  last_seen: number | null;
  state: string | null;
  /** Broker timestamp of the stored state. */
  state_ts: number | null;
};

export class DeviceStore {
  /** The device this object serves, once claimed (it never changes). */
  #owner: string | null = null;

  constructor(
    private readonly sql: SqlStorage,
    /** Bound of the ring: older events are deleted as new ones arrive. */
    private readonly recentLimit: number,
  ) {
    for (const statement of SCHEMA) sql.exec(statement);
    // Objects created before the state ordering guard (issue 11) lack the column.
    const { found } = sql
      .exec<{ found: number }>(
        "SELECT COUNT(*) AS found FROM pragma_table_info('device') WHERE name = 'state_ts'",
      )
      .one();
    if (found === 0) sql.exec("ALTER TABLE device ADD COLUMN state_ts INTEGER");
  }

  /** The device this object serves, once known (set by the first connect or delivery). */
  deviceId(): string | null {
    return this.row()?.device_id ?? null;
  }

  /**
   * Records which device this object serves; an object never serves two. Every RPC claims,
   * so after the first the owner is known in memory (the row is never deleted or changed):
   * two SQLite statements fewer on each of a command's two records (docs/EDGE.md, "Command
   * status"; test/edge/command-log-cost.test.ts).
   */
  claim(deviceId: string): void {
    if (this.#owner === deviceId) return;
    this.sql.exec(
      "INSERT INTO device (singleton, device_id) VALUES (1, ?) ON CONFLICT (singleton) DO NOTHING",
      deviceId,
    );
    const owner = this.deviceId();
    this.#owner = owner;
    if (owner !== deviceId) {
      throw new TetherError(ErrorCode.Internal, `channel of ${owner} asked to serve ${deviceId}`);
    }
  }

  view(deviceId: string): DeviceView {
    const row = this.row();
    if (!row) return { id: deviceId, online: false, since: null, lastSeen: null, state: null };
    return {
      id: row.device_id,
      online: row.online === 1,
      since: row.since,
      lastSeen: row.last_seen,
      state: row.state === null ? null : decodeState(row.state),
    };
  }

  /** The reported state, or null before the first. */
  reported(): Record<string, unknown> | null {
    const state = this.row()?.state ?? null;
    return state === null ? null : decodeState(state);
  }

  /** Recent events, oldest first. */
  recent(): TetherEvent[] {
    const events: TetherEvent[] = [];
    for (const { body } of this.sql.exec<{ body: string }>("SELECT body FROM recent_event ORDER BY seq")) {
      const json = parseJson(body);
      const event = json.ok ? parseEvent(json.value) : json;
      if (event.ok) events.push(event.value);
    }
    return events;
  }

  /**
   * Applies one event to the view and appends it to the ring. A presence event
   * older than the current `since`, or a state older than the stored state's
   * broker timestamp, is stale (batches can cross, or be replayed) and is dropped:
   * returns false, and the caller does not broadcast it. `lastSeen` only moves forward.
   */
  apply(event: TetherEvent): boolean {
    const row = this.row();
    if (event.type === "presence" && row?.since != null && event.ts < row.since) return false;
    if (event.type === "state" && row?.state_ts != null && event.ts < row.state_ts) return false;
    const lastSeen = Math.max(row?.last_seen ?? event.ts, event.ts);
    this.sql.exec("UPDATE device SET last_seen = ? WHERE singleton = 1", lastSeen);
    if (event.type === "presence") {
      this.sql.exec(
        "UPDATE device SET online = ?, since = ? WHERE singleton = 1",
        event.online ? 1 : 0,
        event.ts,
      );
    } else if (event.type === "state") {
      this.sql.exec(
        "UPDATE device SET state = ?, state_ts = ? WHERE singleton = 1",
        JSON.stringify(event.state),
        event.ts,
      );
    }
    const { seq } = this.sql
      .exec<{ seq: number }>(
        "INSERT INTO recent_event (body) VALUES (?) RETURNING seq",
        JSON.stringify(event),
      )
      .one();
    this.sql.exec("DELETE FROM recent_event WHERE seq <= ?", seq - this.recentLimit);
    return true;
  }

  private row(): DeviceRow | null {
    return (
      this.sql
        .exec<DeviceRow>(
          "SELECT device_id, online, since, last_seen, state, state_ts FROM device WHERE singleton = 1",
        )
        .toArray()[0] ?? null
    );
  }
}

function decodeState(text: string): Record<string, unknown> | null {
  const json = parseJson(text);
  const state = json.ok ? parseState(json.value) : json;
  return state.ok ? state.value : null;
}
