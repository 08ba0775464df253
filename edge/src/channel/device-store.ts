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
     state TEXT
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
};

export class DeviceStore {
  constructor(
    private readonly sql: SqlStorage,
    /** Bound of the ring: older events are deleted as new ones arrive. */
    private readonly recentLimit: number,
  ) {
    for (const statement of SCHEMA) sql.exec(statement);
  }

  /** The device this object serves, once known (set by the first connect or delivery). */
  deviceId(): string | null {
    return this.row()?.device_id ?? null;
  }

  /** Records which device this object serves; an object never serves two. */
  claim(deviceId: string): void {
    this.sql.exec(
      "INSERT INTO device (singleton, device_id) VALUES (1, ?) ON CONFLICT (singleton) DO NOTHING",
      deviceId,
    );
    const owner = this.deviceId();
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
   * older than the current `since` is stale (batches can cross) and is dropped:
   * returns false, and the caller does not broadcast it.
   */
  apply(event: TetherEvent): boolean {
    const view = this.view(event.deviceId);
    if (event.type === "presence" && view.since !== null && event.ts < view.since) return false;
    const lastSeen = Math.max(view.lastSeen ?? event.ts, event.ts);
    this.sql.exec("UPDATE device SET last_seen = ? WHERE singleton = 1", lastSeen);
    if (event.type === "presence") {
      this.sql.exec(
        "UPDATE device SET online = ?, since = ? WHERE singleton = 1",
        event.online ? 1 : 0,
        event.ts,
      );
    } else if (event.type === "state") {
      this.sql.exec("UPDATE device SET state = ? WHERE singleton = 1", JSON.stringify(event.state));
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
        .exec<DeviceRow>("SELECT device_id, online, since, last_seen, state FROM device WHERE singleton = 1")
        .toArray()[0] ?? null
    );
  }
}

function decodeState(text: string): Record<string, unknown> | null {
  const json = parseJson(text);
  const state = json.ok ? parseState(json.value) : json;
  return state.ok ? state.value : null;
}
