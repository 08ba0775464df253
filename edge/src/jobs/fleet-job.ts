import { DurableObject } from "cloudflare:workers";
import { type CommandResult, ErrorCode, JOB_LIMITS, jobCommandId } from "../../../protocol/src/index.js";
import type { EdgeEnv } from "../env.js";
import { abortReason } from "./abort-rule.js";
import {
  MAX_ATTEMPTS,
  outcomeOfAnswer,
  outcomeOfError,
  outcomeOfResult,
  type Retry,
} from "./broker-outcome.js";
import { ACCOUNT } from "./job-registry.js";
import type { JobDevicesPage, JobPlan, JobView } from "./job-schemas.js";
import { type Final, type JobMeta, JobStore } from "./job-store.js";
import { jobDevice, jobView } from "./job-view.js";
import { HOLD_MS, keptRate, MAX_IN_FLIGHT, Pacer, type Place, TICK_MS } from "./pacing.js";
import { ProgressSockets } from "./progress-sockets.js";

/** A queued command not heard of this long after its `expiresAt` is recorded `offline` (the broker's sweep is late or lost it). */
const QUEUED_GRACE_MS = 60_000;
/** Outcomes whose answer time says how quick the job's commands are (pacing.ts): the router answered. */
const ROUTER_ANSWERS: ReadonlySet<string> = new Set(["succeeded", "failed", "timed_out"]);
/** While running, the object wakes at least this often (to resume after a restart). */
const WATCHDOG_MS = 5_000;

export type CreateAnswer =
  | { kind: "created"; view: JobView }
  | { kind: "exists"; view: JobView }
  | { kind: "conflict" }
  | { kind: "limit" };

/** How long a finished job is kept: JOB_RETENTION_DAYS (default 30; fractions allowed). */
export function retentionMs(env: EdgeEnv): number {
  const days = Number(env.JOB_RETENTION_DAYS ?? "");
  return (Number.isFinite(days) && days > 0 ? days : JOB_LIMITS.retentionDays.default) * 86_400_000;
}

/**
 * Owns one fleet job (issue 16): its plan and each router's outcome in SQLite
 * (job-store.ts), dispatch in paced slices woken by alarms (pacing.ts), each command
 * through the broker API under an id derived from job + router, the abort rule
 * (abort-rule.ts), and the progress sockets (progress-sockets.ts). After a restart
 * the commands that were in flight are sent again under the same ids: the router's
 * result cache answers a command it already ran without running it twice.
 */
export class FleetJob extends DurableObject<EdgeEnv> {
  private readonly store: JobStore;
  private readonly sockets: ProgressSockets;
  private pacer: Pacer | null = null;
  /** Broker calls in flight. Bound: MAX_IN_FLIGHT (the dispatch budget never exceeds it). */
  private readonly inFlight = new Set<Promise<void>>();
  /** Answers not yet recorded (the next tick records them). Bound: MAX_IN_FLIGHT, one per call. */
  private readonly answered: { seq: number; outcome: Final | Retry; attempt: number }[] = [];
  /** The clock; a test may replace it. */
  now: () => number = () => Date.now();

  constructor(ctx: DurableObjectState, env: EdgeEnv) {
    super(ctx, env);
    this.store = new JobStore(ctx.storage);
    this.sockets = new ProgressSockets(ctx);
    ctx.blockConcurrencyWhile(async () => {
      // A new instance has no calls in flight: those of the last one are sent again.
      this.store.requeueOrphans();
      if (this.store.meta()?.status === "running" && (await ctx.storage.getAlarm()) === null) {
        await ctx.storage.setAlarm(this.now());
      }
    });
  }

  /** RPC for `POST /v1/jobs`: stores the plan and starts it, or answers the job this id already is. */
  async create(id: string, plan: JobPlan): Promise<CreateAnswer> {
    const existing = this.store.meta();
    if (existing) {
      if (existing.plan.bodyHash !== plan.bodyHash) return { kind: "conflict" };
      return { kind: "exists", view: this.view(existing) };
    }
    const now = this.now();
    const registry = this.env.JOB_REGISTRY.getByName(ACCOUNT);
    if (!(await registry.claim(id, now, retentionMs(this.env)))) return { kind: "limit" };
    try {
      this.store.create(id, plan, now);
    } catch (error) {
      // Nothing was stored (one transaction): give the slot back; the caller may retry.
      await registry.release(id).catch(() => undefined);
      throw error;
    }
    await this.ctx.storage.setAlarm(now);
    const meta = this.requireMeta();
    return { kind: "created", view: this.view(meta) };
  }

  /** RPC for `GET /v1/jobs/{id}`; also re-arms a running job whose alarm was lost. */
  async status(): Promise<JobView | null> {
    const meta = this.store.meta();
    if (!meta) return null;
    if (meta.status === "running" && (await this.ctx.storage.getAlarm()) === null) {
      console.warn("edge: a running job had no alarm; re-armed", { job: meta.id });
      await this.ctx.storage.setAlarm(this.now());
    }
    return this.view(meta);
  }

  /** RPC for `GET /v1/jobs/{id}/devices`. */
  devices(outcome: string | undefined, cursor: number, limit: number): JobDevicesPage | null {
    const meta = this.store.meta();
    if (!meta) return null;
    const rows = this.store.page(outcome, cursor, limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      devices: page.map((row) => jobDevice(meta.id, row)),
      cursor: rows.length > limit && last ? String(last.seq) : null,
    };
  }

  /** RPC for `POST /v1/jobs/{id}/cancel`: nothing more is sent; calls in flight finish and are recorded. */
  async cancel(): Promise<JobView | null> {
    const meta = this.store.meta();
    if (!meta) return null;
    if (meta.status === "running") await this.end("cancelled", "cancelled by Rails");
    return this.view(this.requireMeta());
  }

  /** RPC from the device's DeviceChannel: a queued (or late) command's `command_result` event. */
  async commandResult(deviceId: string, result: CommandResult): Promise<void> {
    const seq = this.store.seqOf(deviceId);
    if (seq === null) return;
    if (this.store.finish(seq, ["sent", "queued"], outcomeOfResult(result), this.now())) await this.changed();
  }

  /** The progress socket, authorised by the route (job-routes.ts). */
  override async fetch(request: Request): Promise<Response> {
    const meta = this.store.meta();
    if (!meta)
      return Response.json({ error: { code: ErrorCode.NotFound, message: "no such job" } }, { status: 404 });
    const response = this.sockets.accept(request, this.view(meta), this.now());
    await this.schedule();
    return response;
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.sockets.closed(ws, code);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.sockets.closed(ws, 1011);
  }

  override async alarm(): Promise<void> {
    const meta = this.store.meta();
    if (!meta) return;
    const now = this.now();
    if (meta.endedAt !== null && now >= meta.endedAt + retentionMs(this.env)) {
      this.sockets.closeAll(1000, "job deleted (JOB_RETENTION_DAYS)");
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      this.store.open();
      this.pacer = null;
      return;
    }
    try {
      this.sockets.closeExpired(now);
      for (const seq of this.store.expiredQueued(now - QUEUED_GRACE_MS)) {
        const error = {
          code: ErrorCode.CommandExpired,
          message: "no result before the queued command expired",
        };
        this.store.finish(seq, ["queued"], { state: "offline", error }, now);
      }
      this.recordAnswers();
      // The abort rule and completion see every answer before the next slice goes.
      await this.changed();
      const current = this.requireMeta();
      if (current.status === "running") this.dispatch(current, now);
      await this.changed();
    } catch (error) {
      // Never leave a running job without its next alarm (the platform's retries give up).
      console.error("edge: job alarm failed", { job: meta.id, error: String(error) });
      await this.ctx.storage.setAlarm(now + WATCHDOG_MS);
    }
  }

  /** Sends the next slice: what the pacing window and the in-flight bound allow. */
  private dispatch(meta: JobMeta, now: number): void {
    // A restart keeps the places of the commands sent just before it (pacing.ts).
    this.pacer ??= new Pacer(meta.plan.ratePerSecond, this.store.placesSince(now - HOLD_MS - 1000));
    const budget = Math.min(this.pacer.budget(now), MAX_IN_FLIGHT - this.inFlight.size);
    const rows = this.store.due(budget, now);
    if (rows.length > 0) this.pacer.sliced(now);
    for (const row of rows) {
      if (!this.store.markSent(row.seq, now)) continue;
      const place = this.pacer.record(now);
      const call = this.send(meta, row.seq, row.device, row.attempts + 1, place).finally(() =>
        this.inFlight.delete(call),
      );
      this.inFlight.add(call);
    }
  }

  private async send(
    meta: JobMeta,
    seq: number,
    device: string,
    attempt: number,
    place: Place,
  ): Promise<void> {
    const { command } = meta.plan;
    // From the device's own object: see channel-hooks.ts (one object's connections are few).
    const outcome = await this.env.DEVICE_CHANNEL.getByName(device)
      .jobCommand(device, { ...command, id: jobCommandId(meta.id, device) })
      .then(outcomeOfAnswer, outcomeOfError);
    // The router ran it (if at all) before this answer: its place frees a second from now.
    const fromRouter = !("retry" in outcome) && ROUTER_ANSWERS.has(outcome.state);
    this.pacer?.answered(place, this.now(), fromRouter);
    // Recorded at the next tick, all at once: every storage write holds the object's
    // outgoing requests until it is committed, so one commit per answer would pace the
    // job by the disk instead of by its rate. An answer lost with the object is sent
    // again after a restart (same id: the router answers from its result cache).
    this.answered.push({ seq, outcome, attempt });
    // A running job ticks anyway; one that ended (cancel, abort) needs a tick to record it.
    if (this.store.meta()?.status === "running") return;
    try {
      await this.schedule();
    } catch (error) {
      console.error("edge: job could not schedule its tick", { job: meta.id, device, error: String(error) });
    }
  }

  /**
   * Records the answers that arrived since the last tick, in one commit. Each leaves the
   * list only once recorded: when a write fails (SQLITE_NOMEM under memory pressure),
   * it and the ones after it stay for the next tick instead of being lost.
   */
  private recordAnswers(): void {
    for (let next = this.answered[0]; next !== undefined; next = this.answered[0]) {
      this.settle(next.seq, next.outcome, next.attempt);
      this.answered.shift();
    }
  }

  private settle(seq: number, outcome: Final | Retry, attempt: number): boolean {
    const now = this.now();
    if (!("retry" in outcome)) return this.store.finish(seq, ["sent"], outcome, now);
    if (attempt < MAX_ATTEMPTS) {
      // 1, 2, 4, 8 s: the broker sheds load for about a second (Retry-After: 1).
      return this.store.retryLater(seq, now + 1000 * 2 ** (attempt - 1), now);
    }
    return this.store.finish(seq, ["sent"], { state: "failed", error: outcome.error }, now);
  }

  /** After any change: the abort rule, completion, a progress frame, the next alarm. */
  private async changed(): Promise<void> {
    const meta = this.requireMeta();
    if (meta.status === "running") {
      const reason = abortReason(meta.plan.abort, this.store.counts());
      if (reason !== null) await this.end("aborted", reason);
      else if (this.store.count("pending") + this.store.count("sent") === 0)
        await this.end("completed", null);
    }
    const current = this.requireMeta();
    this.sockets.progress(current, this.store, this.now());
    await this.schedule();
  }

  private async end(status: "completed" | "aborted" | "cancelled", reason: string | null): Promise<void> {
    const meta = this.requireMeta();
    this.store.end(status, reason, this.now());
    this.sockets.progress(this.requireMeta(), this.store, this.now(), true);
    try {
      await this.env.JOB_REGISTRY.getByName(ACCOUNT).release(meta.id);
    } catch (error) {
      // The registry drops a slot not released after the retention period (job-registry.ts).
      console.error("edge: job could not release its slot", { job: meta.id, error: String(error) });
    }
  }

  /** One alarm: the soonest of the next slice, a frame due, a socket deadline, a queued expiry, deletion. */
  private async schedule(): Promise<void> {
    const meta = this.requireMeta();
    const now = this.now();
    const candidates: number[] = [];
    if (meta.status === "running") {
      // The next slice; else the answers still out (recorded each tick); else a watchdog.
      if (this.store.count("pending") > 0)
        candidates.push(Math.max(now + TICK_MS, this.pacer?.nextSlot(now) ?? now));
      else candidates.push(now + (this.store.count("sent") > 0 ? TICK_MS : WATCHDOG_MS));
    }
    if (this.answered.length > 0) candidates.push(now + TICK_MS);
    const queued = this.store.nextQueuedExpiry();
    if (queued !== null) candidates.push(queued + QUEUED_GRACE_MS);
    const frame = this.sockets.nextDue();
    if (frame !== null) candidates.push(frame);
    const deadline = this.sockets.nextDeadline();
    if (deadline !== null) candidates.push(deadline);
    if (meta.endedAt !== null) candidates.push(meta.endedAt + retentionMs(this.env));
    const next = Math.min(...candidates);
    const current = await this.ctx.storage.getAlarm();
    if (current === null || next < current || current < now) await this.ctx.storage.setAlarm(next);
  }

  private view(meta: JobMeta): JobView {
    const now = this.now();
    const kept = this.pacer?.expectedRate() ?? keptRate(meta.plan.ratePerSecond, []);
    return jobView(meta, this.store, this.pacer?.rate(now) ?? 0, kept, now);
  }

  private requireMeta(): JobMeta {
    const meta = this.store.meta();
    if (!meta) throw new Error("job has no plan");
    return meta;
  }
}
