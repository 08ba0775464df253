import {
  DESIRED_ACK_KEYS,
  type DesiredDocument,
  ErrorCode,
  isRecord,
  parseDesiredDocument,
  parseJson,
  TetherError,
} from "../../protocol/src/index.js";

/** What a desired-state handler receives besides the desired object. */
export interface DesiredContext {
  /** The document's version; reported back as `desiredVersion` once the handler resolves. */
  version: number;
  /** Aborted when a newer version supersedes this one, or the device closes. */
  signal: AbortSignal;
}

/**
 * Applies a desired document. Resolves when applied (an object it resolves with is
 * merged into the reported state, e.g. the settings as now in force); a throw reports
 * `desiredError`.
 */
export type DesiredHandler = (
  desired: Record<string, unknown>,
  context: DesiredContext,
) => Promise<Record<string, unknown> | undefined> | Record<string, unknown> | undefined;

export interface DesiredStats {
  /** Desired documents received (duplicates and stale versions included). */
  desiredReceived: number;
  /** Versions applied (the handler resolved). */
  desiredApplied: number;
  /** Versions whose handler threw. */
  desiredFailed: number;
  /** Versions aborted because a newer one arrived. */
  desiredSuperseded: number;
  /** The last version applied, 0 before any. */
  desiredVersion: number;
}

interface Running {
  version: number;
  controller: AbortController;
}

/**
 * Runs the device's desired-state handler (issue 15): one version at a time; the same
 * version is never applied twice at once, and a version not newer than the one applied
 * or running is ignored; a newer one aborts the running handler (its signal) and
 * supersedes it, so only the latest is acknowledged. Holds at most one document (the
 * latest) while no handler is registered.
 */
export class DesiredApplier {
  #handler: DesiredHandler | null = null;
  /** The latest document received before a handler was registered (one, not a queue). */
  #waiting: DesiredDocument | null = null;
  #running: Running | null = null;
  #applied = 0;
  readonly #stats = { desiredReceived: 0, desiredApplied: 0, desiredFailed: 0, desiredSuperseded: 0 };

  readonly #hooks: {
    report(partial: Record<string, unknown>): void;
    reportError(error: Error): void;
  };

  constructor(hooks: {
    /** Merges `partial` into the reported state and publishes it. */
    report(partial: Record<string, unknown>): void;
    reportError(error: Error): void;
  }) {
    this.#hooks = hooks;
  }

  setHandler(handler: DesiredHandler): void {
    this.#handler = handler;
    const waiting = this.#waiting;
    this.#waiting = null;
    if (waiting) this.#start(waiting);
  }

  /** A payload on `devices/{id}/desired`. */
  receive(payload: Buffer): void {
    this.#stats.desiredReceived++;
    const json = parseJson(payload.toString());
    const doc = json.ok ? parseDesiredDocument(json.value) : json;
    if (!doc.ok) {
      this.#hooks.reportError(
        new TetherError(ErrorCode.InvalidRequest, `desired document dropped: ${doc.message}`),
      );
      return;
    }
    const { version } = doc.value;
    if (version <= this.#applied || (this.#running && version <= this.#running.version)) return;
    if (!this.#handler) {
      if (!this.#waiting || this.#waiting.version < version) this.#waiting = doc.value;
      return;
    }
    this.#start(doc.value);
  }

  stats(): DesiredStats {
    return { ...this.#stats, desiredVersion: this.#applied };
  }

  /** Aborts the running handler (device closed); its outcome is not reported. */
  abort(reason: string): void {
    this.#running?.controller.abort(new TetherError(ErrorCode.DeviceOffline, reason));
    this.#running = null;
  }

  #start(doc: DesiredDocument): void {
    const handler = this.#handler;
    if (!handler) return;
    if (this.#running) {
      this.#stats.desiredSuperseded++;
      this.#running.controller.abort(
        new TetherError(ErrorCode.InvalidRequest, `superseded by desired version ${doc.version}`),
      );
    }
    const running: Running = { version: doc.version, controller: new AbortController() };
    this.#running = running;
    const context = { version: doc.version, signal: running.controller.signal };
    Promise.resolve()
      .then(() => handler(structuredClone(doc.desired), context))
      .then(
        (applied) => {
          if (this.#running !== running) return;
          this.#running = null;
          this.#applied = doc.version;
          this.#stats.desiredApplied++;
          const extra = isRecord(applied) ? applied : {};
          this.#report({ ...extra, [DESIRED_ACK_KEYS.version]: doc.version, [DESIRED_ACK_KEYS.error]: null });
        },
        (error: unknown) => {
          if (this.#running !== running) return;
          this.#running = null;
          this.#stats.desiredFailed++;
          const code = error instanceof TetherError ? error.code : ErrorCode.HandlerError;
          const message = error instanceof Error ? error.message : String(error);
          this.#report({
            [DESIRED_ACK_KEYS.error]: { version: doc.version, code, message: message.slice(0, 512) },
          });
        },
      );
  }

  /** Reports an outcome; a state that cannot be published (too large, device closed) is an error, not a crash. */
  #report(partial: Record<string, unknown>): void {
    try {
      this.#hooks.report(partial);
    } catch (error) {
      this.#hooks.reportError(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
