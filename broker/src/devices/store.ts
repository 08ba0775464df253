/**
 * What the broker knows about each device across its connections: presence,
 * last state, whether it holds a persistent session, when it went offline (for
 * the session reaper), its queued commands and the revocation list. Two
 * implementations: in memory (one node) and in Redis (cluster-wide).
 */

export interface DeviceRecord {
  online: boolean;
  /** With `nodeId`, identifies the connection that owns the record; a takeover replaces it. */
  connId: number | null;
  nodeId: string | null;
  /** Epoch ms: online since, or offline since. */
  since: number;
  lastSeen: number;
  persistent: boolean;
  state: Record<string, unknown> | null;
}

/** The connection that owns a device's record: a per-node counter on a node. */
export interface ConnectionOwner {
  nodeId: string;
  connId: number;
}

export interface ConnectInfo extends ConnectionOwner {
  persistent: boolean;
  now: number;
}

/** A queued command, by its device. */
export interface QueuedRef {
  deviceId: string;
  commandId: string;
}

/** A device the reaper claimed, with the queued commands it still had (they end `session_expired`). */
export interface ClaimedDevice {
  record: DeviceRecord;
  queuedCommands: string[];
}

export interface DeviceStoreCounts {
  devices: number;
  persistentSessions: number;
  queuedCommands: number;
}

export interface DeviceStore {
  /** Marks the device online on this connection; returns the record it replaced. */
  connect(deviceId: string, info: ConnectInfo): Promise<DeviceRecord | null>;
  /**
   * Marks the device offline if `owner` still owns it (false after a takeover),
   * and starts its expiry countdown.
   */
  disconnect(deviceId: string, owner: ConnectionOwner, now: number): Promise<boolean>;
  touch(deviceId: string, now: number): Promise<void>;
  setState(deviceId: string, state: Record<string, unknown>, now: number): Promise<void>;
  get(deviceId: string): Promise<DeviceRecord | null>;
  /** Up to `limit` devices offline since at or before `cutoff`, oldest first. */
  expired(cutoff: number, limit: number): Promise<string[]>;
  /**
   * Atomically forgets a device that is still offline since at or before `cutoff`,
   * with its queued commands (returned, so they can end); null if it reconnected or
   * another node already reaped it.
   */
  claimExpired(deviceId: string, cutoff: number): Promise<ClaimedDevice | null>;
  /**
   * Records a queued command; false when the device already has `max` unexpired ones.
   * An expired one stays until taken: the expiry sweep ends it (commands/queued-expiry.ts).
   */
  addQueued(
    deviceId: string,
    commandId: string,
    expiresAt: number,
    now: number,
    max: number,
  ): Promise<boolean>;
  /**
   * Removes a queued command atomically; true for exactly one caller, who must then
   * report its end (commands/queued-outcome.ts).
   */
  takeQueued(deviceId: string, commandId: string): Promise<boolean>;
  /** Removes and returns every queued command of a device (revocation). */
  takeAllQueued(deviceId: string): Promise<string[]>;
  /** Up to `limit` queued commands (of any device) whose expiresAt is at or before `cutoff`. */
  expiredQueued(cutoff: number, limit: number): Promise<QueuedRef[]>;
  isRevoked(deviceId: string): Promise<boolean>;
  /**
   * Synchronous `isRevoked` and `connect` for a store that answers without I/O (memory mode),
   * so the CONNECT hot path costs no promise (issue 14); absent where the answer needs I/O
   * (Redis), and callers then use the async methods. `connectNow` returns whether the
   * record it replaced was online (a takeover).
   */
  isRevokedNow?(deviceId: string): boolean;
  connectNow?(deviceId: string, info: ConnectInfo): boolean;
  /**
   * Every revoked id (API and REVOKED_DEVICES), where the list is local (memory mode): the
   * periodic revocation check looks these up among the connected clients instead of
   * scanning every client (an O(clients) walk every 2 s: issue 14's CPU profile).
   */
  revokedIds?(): string[];
  /** Revokes a device (memory: this node; Redis: the shared set, every node). */
  revoke(deviceId: string): Promise<void>;
  /** Lifts a revocation made with `revoke` (REVOKED_DEVICES stays revoked: see `isConfiguredRevoked`). */
  unrevoke(deviceId: string): Promise<void>;
  /** True when the device is in this node's REVOKED_DEVICES, which only a configuration change lifts. */
  isConfiguredRevoked(deviceId: string): boolean;
  /** The revoked ones among `deviceIds` (the devices connected to this node). */
  revokedAmong(deviceIds: readonly string[]): Promise<string[]>;
  counts(): Promise<DeviceStoreCounts>;
  close(): Promise<void>;
}

/** A device record for the in-memory store. */
interface MemoryEntry extends DeviceRecord {
  /**
   * Command id → expiresAt. Bound: `maxQueuedPerDevice` unexpired, plus expired ones until
   * the expiry sweep (every second) takes them. Created on first use.
   */
  queued: Map<string, number> | null;
}

/** One broker node's device store. */
export class MemoryDeviceStore implements DeviceStore {
  /**
   * Bound: one entry per device seen within SESSION_EXPIRY_SECONDS (online, or
   * offline and not yet reaped). The session reaper deletes expired entries.
   */
  readonly #devices = new Map<string, MemoryEntry>();
  /**
   * Offline devices → offline-since, in insertion order, which is time order
   * because the clock is monotonic. Bound: a subset of #devices' keys.
   */
  readonly #offline = new Map<string, number>();
  /** REVOKED_DEVICES: lifted only by a configuration change. */
  readonly #configuredRevoked: ReadonlySet<string>;
  /** Bound: one entry per device revoked through the API (an operator's action, not traffic). */
  readonly #revoked = new Set<string>();
  /** Devices with a queued command (the expiry sweep's index). Bound: a subset of #devices' keys. */
  readonly #withQueued = new Set<string>();
  /** The earliest expiresAt a sweep may find (a lower bound); a sweep before it does nothing. */
  #nextExpiry = Number.POSITIVE_INFINITY;
  #persistent = 0;
  #queued = 0;

  constructor(revoked: Iterable<string> = []) {
    this.#configuredRevoked = new Set(revoked);
  }

  async connect(deviceId: string, info: ConnectInfo): Promise<DeviceRecord | null> {
    const existing = this.#devices.get(deviceId);
    const previous = existing ? toRecord(existing) : null;
    this.connectNow(deviceId, info);
    return previous;
  }

  connectNow(deviceId: string, info: ConnectInfo): boolean {
    const existing = this.#devices.get(deviceId);
    this.#offline.delete(deviceId);
    if (existing?.persistent) this.#persistent--;
    if (info.persistent) this.#persistent++;
    if (!existing) {
      this.#devices.set(deviceId, {
        online: true,
        connId: info.connId,
        nodeId: info.nodeId,
        since: info.now,
        lastSeen: info.now,
        persistent: info.persistent,
        state: null,
        queued: null,
      });
      return false;
    }
    // Updated in place: a reconnecting fleet leaves no garbage entry per CONNECT (records
    // leave the store only as copies, `toRecord`).
    const wasOnline = existing.online;
    existing.online = true;
    existing.connId = info.connId;
    existing.nodeId = info.nodeId;
    existing.since = info.now;
    existing.lastSeen = info.now;
    existing.persistent = info.persistent;
    return wasOnline;
  }

  async disconnect(deviceId: string, owner: ConnectionOwner, now: number): Promise<boolean> {
    const entry = this.#devices.get(deviceId);
    if (!entry?.online || entry.connId !== owner.connId || entry.nodeId !== owner.nodeId) return false;
    entry.online = false;
    entry.connId = null;
    entry.since = now;
    entry.lastSeen = now;
    this.#offline.set(deviceId, now);
    return true;
  }

  async touch(deviceId: string, now: number): Promise<void> {
    const entry = this.#devices.get(deviceId);
    if (entry) entry.lastSeen = now;
  }

  async setState(deviceId: string, state: Record<string, unknown>, now: number): Promise<void> {
    const entry = this.#devices.get(deviceId);
    if (!entry) return;
    entry.state = state;
    entry.lastSeen = now;
  }

  async get(deviceId: string): Promise<DeviceRecord | null> {
    const entry = this.#devices.get(deviceId);
    return entry ? toRecord(entry) : null;
  }

  async expired(cutoff: number, limit: number): Promise<string[]> {
    const ids: string[] = [];
    for (const [deviceId, since] of this.#offline) {
      if (since > cutoff || ids.length >= limit) break;
      ids.push(deviceId);
    }
    return ids;
  }

  async claimExpired(deviceId: string, cutoff: number): Promise<ClaimedDevice | null> {
    const since = this.#offline.get(deviceId);
    const entry = this.#devices.get(deviceId);
    if (since === undefined || since > cutoff || !entry) return null;
    this.#offline.delete(deviceId);
    this.#devices.delete(deviceId);
    if (entry.persistent) this.#persistent--;
    const queuedCommands = this.#takeAll(entry, deviceId);
    return { record: toRecord(entry), queuedCommands };
  }

  async addQueued(
    deviceId: string,
    commandId: string,
    expiresAt: number,
    now: number,
    max: number,
  ): Promise<boolean> {
    const entry = this.#devices.get(deviceId);
    if (!entry) return false;
    entry.queued ??= new Map();
    let unexpired = 0;
    for (const at of entry.queued.values()) if (at > now) unexpired++;
    if (unexpired >= max) return false;
    entry.queued.set(commandId, expiresAt);
    this.#withQueued.add(deviceId);
    this.#nextExpiry = Math.min(this.#nextExpiry, expiresAt);
    this.#queued++;
    return true;
  }

  async takeQueued(deviceId: string, commandId: string): Promise<boolean> {
    const entry = this.#devices.get(deviceId);
    const removed = entry?.queued?.delete(commandId) ?? false;
    if (removed) this.#queued--;
    if (entry?.queued?.size === 0) this.#withQueued.delete(deviceId);
    return removed;
  }

  async takeAllQueued(deviceId: string): Promise<string[]> {
    const entry = this.#devices.get(deviceId);
    return entry ? this.#takeAll(entry, deviceId) : [];
  }

  async expiredQueued(cutoff: number, limit: number): Promise<QueuedRef[]> {
    if (cutoff < this.#nextExpiry) return [];
    const due: QueuedRef[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const deviceId of this.#withQueued) {
      for (const [commandId, expiresAt] of this.#devices.get(deviceId)?.queued ?? []) {
        if (expiresAt > cutoff) next = Math.min(next, expiresAt);
        else if (due.length < limit) due.push({ deviceId, commandId });
        else next = Number.NEGATIVE_INFINITY; // more are due than one call returns
      }
    }
    // Those returned are about to be taken; if one is not, the next sweep looks again.
    this.#nextExpiry = due.length > 0 ? Number.NEGATIVE_INFINITY : next;
    return due;
  }

  #takeAll(entry: MemoryEntry, deviceId: string): string[] {
    const ids = [...(entry.queued?.keys() ?? [])];
    this.#queued -= ids.length;
    entry.queued = null;
    this.#withQueued.delete(deviceId);
    return ids;
  }

  async isRevoked(deviceId: string): Promise<boolean> {
    return this.isRevokedNow(deviceId);
  }

  isRevokedNow(deviceId: string): boolean {
    return this.#revoked.has(deviceId) || this.#configuredRevoked.has(deviceId);
  }

  revokedIds(): string[] {
    return [...this.#revoked, ...this.#configuredRevoked];
  }

  async revoke(deviceId: string): Promise<void> {
    this.#revoked.add(deviceId);
  }

  async unrevoke(deviceId: string): Promise<void> {
    this.#revoked.delete(deviceId);
  }

  isConfiguredRevoked(deviceId: string): boolean {
    return this.#configuredRevoked.has(deviceId);
  }

  async revokedAmong(deviceIds: readonly string[]): Promise<string[]> {
    return deviceIds.filter((id) => this.#revoked.has(id) || this.#configuredRevoked.has(id));
  }

  async counts(): Promise<DeviceStoreCounts> {
    return {
      devices: this.#devices.size,
      persistentSessions: this.#persistent,
      queuedCommands: this.#queued,
    };
  }

  async close(): Promise<void> {
    this.#devices.clear();
    this.#offline.clear();
    this.#withQueued.clear();
  }
}

function toRecord(entry: MemoryEntry): DeviceRecord {
  const { queued: _queued, ...record } = entry;
  return { ...record };
}
