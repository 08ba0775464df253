import {
  type CommandResult,
  ErrorCode,
  isRecord,
  parseCommand,
  parseJson,
  TetherError,
} from "../../protocol/src/index.js";
import type { Clock } from "./clock.js";
import type { ResultCache } from "./result-cache.js";

/** What a handler receives besides `params`. */
export interface CommandContext {
  /** Fired when the handler overruns its timeout or the device closes. */
  signal: AbortSignal;
  id: string;
  name: string;
  /** Epoch ms after which the caller no longer wants an answer. */
  expiresAt: number;
}

/** A command handler: returns the result (any JSON value) or throws. */
export type CommandHandler = (params: unknown, context: CommandContext) => unknown;

export interface CommandHandlerOptions {
  /** Overrides the device's `commandTimeoutMs` for this command. */
  timeoutMs?: number;
}

export interface DispatcherStats {
  commandsReceived: number;
  commandsRun: number;
  duplicateCommands: number;
  expiredCommands: number;
  invalidCommands: number;
  unknownCommands: number;
  handlerErrors: number;
  handlerTimeouts: number;
  running: number;
  cachedResults: number;
}

export interface DispatcherOptions {
  clock: Clock;
  cache: ResultCache;
  defaultTimeoutMs: number;
  maxConcurrent: number;
  maxPayloadBytes: number;
  /** Hands a serialized result to the outbox. */
  publish(id: string, payload: string): void;
  /** Reports a command that cannot be answered (no id). */
  reportError(error: TetherError): void;
}

interface Registration {
  handler: CommandHandler;
  timeoutMs: number;
}

interface Running {
  controller: AbortController;
  timer: unknown;
}

const MAX_COMMAND_ID_LENGTH = 128;

/**
 * Turns command payloads into handler calls and handler outcomes into results:
 * validates, deduplicates by command id, skips expired commands, enforces timeouts
 * and concurrency.
 */
export class CommandDispatcher {
  // Bound: one entry per `command(name, …)` call by the application, not by traffic.
  readonly #handlers = new Map<string, Registration>();
  // Bound: `maxConcurrent`; entries leave on completion, timeout and abortAll().
  readonly #running = new Map<string, Running>();
  #closed = false;
  readonly #stats = {
    commandsReceived: 0,
    commandsRun: 0,
    duplicateCommands: 0,
    expiredCommands: 0,
    invalidCommands: 0,
    unknownCommands: 0,
    handlerErrors: 0,
    handlerTimeouts: 0,
  };

  constructor(private readonly options: DispatcherOptions) {}

  register(name: string, handler: CommandHandler, options: CommandHandlerOptions = {}): void {
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new TetherError(ErrorCode.InvalidRequest, "timeoutMs must be a positive number");
    }
    this.#handlers.set(name, { handler, timeoutMs });
  }

  unregister(name: string): boolean {
    return this.#handlers.delete(name);
  }

  stats(): DispatcherStats {
    return { ...this.#stats, running: this.#running.size, cachedResults: this.options.cache.size };
  }

  /** Handles one payload from `devices/{id}/commands`. */
  receive(payload: Buffer): void {
    if (this.#closed) return;
    this.#stats.commandsReceived++;
    const json = parseJson(payload.toString("utf8"));
    const parsed = json.ok ? parseCommand(json.value) : json;
    if (!parsed.ok) {
      this.#stats.invalidCommands++;
      const id = json.ok && isRecord(json.value) ? json.value.id : undefined;
      if (typeof id === "string" && id.length > 0 && id.length <= MAX_COMMAND_ID_LENGTH) {
        this.#answer(id, {
          id,
          ok: false,
          error: { code: ErrorCode.InvalidCommand, message: parsed.message },
        });
      } else {
        this.options.reportError(
          new TetherError(ErrorCode.InvalidCommand, `command without a usable id dropped: ${parsed.message}`),
        );
      }
      return;
    }
    const command = parsed.value;
    const cached = this.options.cache.get(command.id);
    if (cached !== undefined) {
      // A redelivery (QoS 1 gives at-least-once): answer again, never run twice.
      this.#stats.duplicateCommands++;
      this.options.publish(command.id, cached);
      return;
    }
    if (this.#running.has(command.id)) {
      // Still running: its result will be published when it finishes.
      this.#stats.duplicateCommands++;
      return;
    }
    if (command.expiresAt <= this.options.clock.now()) {
      this.#stats.expiredCommands++;
      this.#answer(command.id, {
        id: command.id,
        ok: false,
        error: { code: ErrorCode.CommandExpired, message: "command arrived after its expiresAt; not run" },
      });
      return;
    }
    const registration = this.#handlers.get(command.name);
    if (!registration) {
      this.#stats.unknownCommands++;
      this.#answer(command.id, {
        id: command.id,
        ok: false,
        error: { code: ErrorCode.UnknownCommand, message: `no handler for command "${command.name}"` },
      });
      return;
    }
    if (this.#running.size >= this.options.maxConcurrent) {
      // Not cached: the broker may deliver it again later and then it may run.
      this.#publish(command.id, {
        id: command.id,
        ok: false,
        error: { code: ErrorCode.RateLimited, message: "device is running too many commands" },
      });
      return;
    }
    this.#run(command.id, command.name, command.params, command.expiresAt, registration);
  }

  /** Aborts every running handler (device closing); their late outcomes are ignored. */
  abortAll(reason: string): void {
    this.#closed = true;
    for (const [id, running] of this.#running) {
      this.options.clock.clearTimeout(running.timer);
      running.controller.abort(new TetherError(ErrorCode.HandlerTimeout, reason, { commandId: id }));
    }
    this.#running.clear();
  }

  #run(id: string, name: string, params: unknown, expiresAt: number, registration: Registration): void {
    const controller = new AbortController();
    const timer = this.options.clock.setTimeout(() => {
      if (this.#running.get(id)?.controller !== controller) return;
      this.#running.delete(id);
      this.#stats.handlerTimeouts++;
      const message = `handler for "${name}" did not finish within ${registration.timeoutMs} ms`;
      controller.abort(new TetherError(ErrorCode.HandlerTimeout, message, { commandId: id }));
      this.#answer(id, { id, ok: false, error: { code: ErrorCode.HandlerTimeout, message } });
    }, registration.timeoutMs);
    this.#running.set(id, { controller, timer });
    this.#stats.commandsRun++;

    const settle = (result: CommandResult): void => {
      if (this.#running.get(id)?.controller !== controller) return; // timed out or aborted
      this.#running.delete(id);
      this.options.clock.clearTimeout(timer);
      this.#answer(id, result);
    };
    const fail = (error: unknown): void => {
      if (this.#running.get(id)?.controller !== controller) return;
      this.#stats.handlerErrors++;
      const message = error instanceof Error ? error.message : String(error);
      settle({ id, ok: false, error: { code: ErrorCode.HandlerError, message } });
    };
    try {
      const outcome = registration.handler(params, { signal: controller.signal, id, name, expiresAt });
      Promise.resolve(outcome).then((result) => settle({ id, ok: true, result: result ?? null }), fail);
    } catch (error) {
      fail(error);
    }
  }

  /** Publishes a final answer and remembers it for redeliveries. */
  #answer(id: string, result: CommandResult): void {
    const payload = this.#publish(id, result);
    if (payload !== undefined) this.options.cache.set(id, payload);
  }

  #publish(id: string, result: CommandResult): string | undefined {
    if (this.#closed) return undefined;
    let payload: string;
    try {
      payload = JSON.stringify(result);
    } catch (error) {
      this.#stats.handlerErrors++;
      const message = `result is not JSON-serializable: ${(error as Error).message}`;
      payload = JSON.stringify({ id, ok: false, error: { code: ErrorCode.HandlerError, message } });
    }
    if (Buffer.byteLength(payload) > this.options.maxPayloadBytes) {
      this.#stats.handlerErrors++;
      const message = `result exceeds ${this.options.maxPayloadBytes} bytes`;
      payload = JSON.stringify({ id, ok: false, error: { code: ErrorCode.HandlerError, message } });
    }
    this.options.publish(id, payload);
    return payload;
  }
}
