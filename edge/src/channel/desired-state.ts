import {
  applyMergePatch,
  type DesiredError,
  desiredAckOf,
  desiredBoundsRefusal,
  desiredDelta,
  ErrorCode,
  errorBody,
  isRecord,
  jsonEqual,
  type TetherEvent,
} from "../../../protocol/src/index.js";
import { putDesiredOnBroker } from "../broker-client.js";
import type { EdgeEnv } from "../env.js";
import { DesiredStore } from "./desired-store.js";
import type { DesiredFrame } from "./frames.js";

/** What `GET /v1/devices/{id}`, the snapshot and the `desired` frame say about desired state. */
export interface DesiredView {
  /** The whole desired object ({} before the first patch). */
  desired: Record<string, unknown>;
  /** Its version: 0 before the first patch, then +1 per change. */
  desiredVersion: number;
  /** The version the device last reported applying (`desiredVersion` in its state), or null. */
  reportedDesiredVersion: number | null;
  /** Each top-level key of `desired` whose value differs from the reported state ({} when converged). */
  delta: Record<string, unknown>;
  /** The device's last failure to apply (`desiredError` in its state), or null. */
  desiredError: DesiredError | null;
}

export type PatchOutcome =
  | { ok: true; version: number; desired: Record<string, unknown>; changed: boolean }
  | { ok: false; status: 400 | 412 | 413; code: string; message: string };

/** A patch's outcome as the PATCH route answers it: status, JSON body, and the version when stored. */
export interface PatchAnswer {
  status: 200 | 400 | 412 | 413;
  body: string;
  version: number | null;
}

export function patchAnswer(outcome: PatchOutcome): PatchAnswer {
  if (outcome.ok) {
    const body = JSON.stringify({ version: outcome.version, desired: outcome.desired });
    return { status: 200, body, version: outcome.version };
  }
  return {
    status: outcome.status,
    body: JSON.stringify(errorBody(outcome.code, outcome.message)),
    version: null,
  };
}

/** First retry of a failed hand-off; doubled per failure up to HAND_OFF_MAX_DELAY_MS. */
const HAND_OFF_FIRST_DELAY_MS = 1_000;
const HAND_OFF_MAX_DELAY_MS = 60_000;
/** A device reporting an older desiredVersion is handed the document again at most this often. */
export const REHAND_INTERVAL_MS = 10_000;

export interface DesiredDeps {
  env: EdgeEnv;
  /** The device this channel serves, once known. */
  deviceId(): string | null;
  now(): number;
  /** The device's reported state (from the view). */
  reported(): Record<string, unknown> | null;
  /** Makes sure the object's one alarm fires by `atMs`. */
  scheduleAlarm(atMs: number): Promise<void>;
  /** Sends the `desired` frame to every socket. */
  broadcast(frame: DesiredFrame): void;
}

/**
 * One device's desired state in its DeviceChannel (issue 15). The channel is the source
 * of truth: a patch is stored here first, then handed to the broker (which delivers it),
 * and handed again — until the broker takes it — on an alarm with capped exponential
 * backoff, whenever the device comes online, and when it reports an older
 * `desiredVersion` (at most every REHAND_INTERVAL_MS). So convergence never depends on
 * one message, a broker restart or an edge restart: each step is recorded in SQLite.
 */
export class DesiredState {
  readonly #store: DesiredStore;
  /** Hand-offs in progress in this isolate (at most one per version; bounded by the version count in flight). */
  readonly #inFlight = new Set<number>();

  constructor(
    sql: SqlStorage,
    private readonly deps: DesiredDeps,
  ) {
    this.#store = new DesiredStore(sql);
  }

  view(): DesiredView {
    const { version, desired } = this.#store.document();
    const reported = this.deps.reported();
    const ack = desiredAckOf(reported);
    return {
      desired,
      desiredVersion: version,
      reportedDesiredVersion: ack.desiredVersion,
      delta: desiredDelta(desired, reported),
      desiredError: ack.desiredError,
    };
  }

  /** The `desired` frame: the device's desired state as it stands now. */
  frame(): DesiredFrame {
    return { type: "desired", deviceId: this.deps.deviceId() ?? "", ts: this.deps.now(), ...this.view() };
  }

  /**
   * Applies an RFC 7386 merge patch. `ifVersion` (If-Match) must name the current
   * version (412 `version_conflict` otherwise). A patch that changes nothing keeps the
   * version; any change makes version + 1, stored before it is handed to the broker.
   */
  async patch(patch: unknown, ifVersion: number | null): Promise<PatchOutcome> {
    if (!isRecord(patch)) {
      return {
        ok: false,
        status: 400,
        code: ErrorCode.InvalidRequest,
        message: "a merge patch must be a JSON object",
      };
    }
    const current = this.#store.document();
    if (ifVersion !== null && ifVersion !== current.version) {
      const message = `If-Match ${ifVersion} but the desired version is ${current.version}`;
      return { ok: false, status: 412, code: ErrorCode.VersionConflict, message };
    }
    const merged = applyMergePatch(current.desired, patch);
    const desired = isRecord(merged) ? merged : {};
    const refusal = desiredBoundsRefusal(desired);
    if (refusal) {
      const status = refusal.code === ErrorCode.PayloadTooLarge ? 413 : 400;
      return { ok: false, status, code: refusal.code, message: refusal.message };
    }
    if (jsonEqual(desired, current.desired) && current.version > 0) {
      return { ok: true, version: current.version, desired, changed: false };
    }
    const version = current.version + 1;
    this.#store.write({ version, desired }, this.deps.now());
    this.deps.broadcast(this.frame());
    await this.#kick();
    return { ok: true, version, desired, changed: true };
  }

  /**
   * After events were applied to the view: the device came online → hand the document
   * again (a memory-mode broker that restarted has lost it); the device reported an
   * older version without failing on the current one → hand it again (throttled); an
   * acknowledgement changed → the `desired` frame.
   */
  async observe(events: readonly TetherEvent[], before: DesiredView): Promise<void> {
    const { version } = this.#store.document();
    if (version === 0) return;
    const now = this.deps.now();
    const after = this.view();
    const cameOnline = events.some((event) => event.type === "presence" && event.online);
    const lagging =
      events.some((event) => event.type === "state") &&
      (after.reportedDesiredVersion ?? 0) < version &&
      after.desiredError?.version !== version &&
      now - this.#store.handOff().rehandedAt >= REHAND_INTERVAL_MS;
    if (cameOnline || lagging) {
      this.#store.due(now, !cameOnline);
      await this.#kick();
    }
    if (
      after.reportedDesiredVersion !== before.reportedDesiredVersion ||
      !jsonEqual(after.desiredError, before.desiredError) ||
      !jsonEqual(after.delta, before.delta)
    ) {
      this.deps.broadcast(this.frame());
    }
  }

  /** The alarm: runs a hand-off that is due. */
  async alarm(): Promise<void> {
    const { dueAt } = this.#store.handOff();
    if (dueAt !== null && dueAt <= this.deps.now()) await this.#handOff();
  }

  /** When the next hand-off attempt is due, for the object's alarm; null when none is. */
  nextDue(): number | null {
    return this.#store.handOff().dueAt;
  }

  /** Starts a due hand-off now, and makes sure the alarm retries it if this isolate goes away first. */
  async #kick(): Promise<void> {
    const { dueAt } = this.#store.handOff();
    if (dueAt === null) return;
    await this.deps.scheduleAlarm(this.deps.now() + HAND_OFF_FIRST_DELAY_MS);
    // Not awaited: Rails' PATCH and the broker's event batch do not wait for the broker.
    this.#handOff().catch((error: unknown) =>
      console.warn("edge: desired hand-off failed", { error: String(error) }),
    );
  }

  async #handOff(): Promise<void> {
    const doc = this.#store.document();
    const deviceId = this.deps.deviceId();
    if (deviceId === null || doc.version === 0 || this.#inFlight.has(doc.version)) return;
    this.#inFlight.add(doc.version);
    try {
      const answer = await putDesiredOnBroker(this.deps.env, deviceId, doc).catch(() => null);
      if (answer?.status === 200) {
        this.#store.handed(doc.version);
        // A newer version written while this one was on its way goes next.
        const { dueAt } = this.#store.handOff();
        if (dueAt !== null && this.#store.document().version > doc.version) {
          this.#kick().catch((error: unknown) =>
            console.warn("edge: desired hand-off not scheduled", { error: String(error) }),
          );
        }
      } else if (answer && answer.status >= 400 && answer.status < 500 && answer.status !== 429) {
        // The broker refuses this document for good (it should not: the bounds are the same).
        console.error("edge: the broker refused a desired document", {
          status: answer.status,
          body: answer.body,
        });
        this.#store.handed(doc.version);
      } else {
        const { attempts } = this.#store.handOff();
        const delay = Math.min(HAND_OFF_MAX_DELAY_MS, HAND_OFF_FIRST_DELAY_MS * 2 ** attempts);
        const at = this.deps.now() + Math.round(delay * (0.5 + Math.random() / 2));
        this.#store.failed(at);
        await this.deps.scheduleAlarm(at);
      }
    } finally {
      this.#inFlight.delete(doc.version);
    }
  }
}
